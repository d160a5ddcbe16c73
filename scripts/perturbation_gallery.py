"""Images of every perturbation axis at every level, one task per benchmark, for docs/robustness.md.

For each robustness protocol: a grid whose rows are the axes and whose columns are level 0 (the clean arm) and
levels 1..N, each tile the first observation of episode 0 of that arm (the camera the policy sees). State-only
protocols (MuJoCo locomotion) have no observation image: their figure plots, per axis, the torso's forward
position over the first steps of episode 0 under the bundled BC policy (results/agents/bc-hopper-medium), one
line per level, so that dynamics, observation noise and action delay show as a different motion. Language
tiles are the clean image; the paraphrases are printed.

    MUJOCO_GL=egl python scripts/perturbation_gallery.py --out docs/images/robustness [--only metaworld]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vla_bench.benchmarks.base import EnvSession
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol

GALLERY = {  # benchmark -> (robustness protocol, task, camera shown)
    "mujoco": ("mujoco/locomotion-robust@v1", "hopper", None),
    "metaworld": ("metaworld/mt10-robust@v1", "pick-place-v3", "corner4"),
    "pandapickcube": ("pandapickcube/vision-robust@v1", "pick_cube", "front"),
    "robomimic": ("robomimic/lift-ph-image-robust@v1", "lift", "agentview"),
    # run with the LIBERO runtime's interpreter (PYTHONPATH=. $RUNTIME_PYTHON scripts/... --only libero)
    "libero": ("libero/spatial-robust@v1",
               "pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate", "agentview"),
}
TILE = 112
LABEL = 14
ROLLOUT_STEPS = 500  # state benchmarks: steps plotted
BC_AGENT = Path(__file__).resolve().parents[1] / "results" / "agents" / "bc-hopper-medium" / "model.onnx"


def _open(protocol: Protocol, task: str, render: bool) -> EnvSession:
    return resolve_adapter(protocol.adapter).make_session(protocol, protocol.task(task), render=render)


def _tile(protocol: Protocol, arm: str, base: str, camera: str) -> tuple[np.ndarray, str | None]:
    session = _open(protocol, arm, render=False)
    try:
        observation = session.reset(episode_spec(protocol, base, 0))
        return observation["images"][camera], observation.get("instruction")
    finally:
        session.close()


def _forward_positions(protocol: Protocol, arm: str, base: str, policy: Any) -> list[float]:
    session = _open(protocol, arm, render=False)
    try:
        observation = session.reset(episode_spec(protocol, base, 0))
        policy.reset(session.task_spec)
        scene = session.scene()
        assert scene is not None
        positions = []
        for _ in range(ROLLOUT_STEPS):
            result = session.step(np.asarray(policy.act(observation), dtype=np.float32).reshape(-1))
            observation = result.observation
            positions.append(float(scene[1].qpos[0]))
            if result.terminated:
                break
        return positions
    finally:
        session.close()


def state_gallery(benchmark: str, out: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415

    protocol_id, base, _ = GALLERY[benchmark]
    protocol = get_protocol(protocol_id)
    assert protocol.perturbation is not None
    policy = load_agent(str(BC_AGENT)).factory()
    clean = _forward_positions(protocol, base, base, policy)
    axes = protocol.perturbation.axes
    rows = (len(axes) + 3) // 4
    figure, grid = plt.subplots(rows, 4, figsize=(9, 2.3 * rows), sharey=True, dpi=70, squeeze=False)
    panels = list(grid.flat)
    for spare in panels[len(axes):]:
        spare.axis("off")
    for panel, axis in zip(panels, axes, strict=False):
        panel.plot(clean, color="black", label="0")
        for level in range(1, len(axis.levels) + 1):
            panel.plot(_forward_positions(protocol, f"{base}.{axis.name}.{level}", base, policy), label=str(level))
            print(f"{benchmark}: {axis.name} level {level}", file=sys.stderr)
        panel.set_title(axis.name, fontsize=8)
        panel.tick_params(labelsize=6)
        panel.set_xlabel("step", fontsize=7)
    for row in grid:
        row[0].set_ylabel("torso x (m)", fontsize=7)
    panels[0].legend(title="level", fontsize=6, title_fontsize=6)
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{benchmark}.png"
    figure.savefig(path)
    plt.close(figure)
    return path


def _labelled(image: np.ndarray, text: str) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE + LABEL), "white")
    tile.paste(Image.fromarray(image).resize((TILE, TILE), Image.Resampling.BILINEAR), (0, 0))
    ImageDraw.Draw(tile).text((2, TILE + 1), text[:22], fill="black")
    return tile


def gallery(benchmark: str, out: Path) -> tuple[Path, list[tuple[str, int, str]]]:
    protocol_id, base, camera = GALLERY[benchmark]
    if camera is None:
        return state_gallery(benchmark, out), []
    protocol = get_protocol(protocol_id)
    assert protocol.perturbation is not None
    axes = protocol.perturbation.axes
    columns = 1 + max(len(axis.levels) for axis in axes)
    sheet = Image.new("RGB", (columns * TILE + 90, len(axes) * (TILE + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    clean, clean_text = _tile(protocol, base, base, camera)
    texts: list[tuple[str, int, str]] = []
    for row, axis in enumerate(axes):
        top = row * (TILE + LABEL)
        draw.text((2, top + TILE // 2), axis.name, fill="black")
        sheet.paste(_labelled(clean, "level 0 (clean)"), (90, top))
        for level in range(1, len(axis.levels) + 1):
            image, text = _tile(protocol, f"{base}.{axis.name}.{level}", base, camera)
            sheet.paste(_labelled(image, f"level {level}"), (90 + level * TILE, top))
            if text is not None and text != clean_text:
                texts.append((axis.name, level, text))
            print(f"{benchmark}: {axis.name} level {level}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{benchmark}.png"
    sheet.save(path, optimize=True)
    return path, texts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/images/robustness"))
    parser.add_argument("--only", choices=sorted(GALLERY), action="append")
    args = parser.parse_args(argv)
    for benchmark in args.only or sorted(GALLERY):
        path, texts = gallery(benchmark, args.out)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
        for axis, level, text in texts:
            print("  " + textwrap.shorten(f"{axis} level {level}: {text}", 110))


if __name__ == "__main__":
    main()
