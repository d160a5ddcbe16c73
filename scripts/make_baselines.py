"""Rebuild the bundled baseline agents and their results bundles from scratch: ``make baselines``.

Every step is a ``vla-bench`` command (printed before it runs, so each result can be reproduced by hand) whose
output is checked before the step is skipped on a rerun, so an interrupted build continues where it stopped.
Training runs and datasets go to ``runs/baselines/`` (not committed: regenerated here); the small artifacts
that are committed go to ``results/``:

- ``results/agents/NAME/``: ``model.onnx`` + ``manifest.json`` (``--agent baseline:NAME`` loads it), with the
  training curve (``curve.png``, ``train.csv``, ``eval.csv``);
- ``results/<benchmark>-<suite>--<agent>/``: the results bundle of that agent under the official protocol;
- ``results/BASELINES.md``: the table of all bundles, with the training time measured here.

Pipeline (REFERENCE.md §1 for how D4RL made its datasets, §6.3 for the PPO anchor):

1. PPO (Stable-Baselines3) for 1M steps on Hopper, Walker2d and HalfCheetah v5. The Hopper run also exports a
   snapshot every 50k steps and records every training transition.
2. Hopper datasets made the way D4RL made its own (Fu et al. 2020 §5): ``medium`` = the first snapshot whose
   evaluation return reaches a third of the final policy's (D4RL: "about 1/3 the performance of the expert"),
   rolled out with Gaussian action noise; ``expert`` = the final policy, likewise; ``medium-replay`` = the
   training transitions up to the medium snapshot; ``medium-expert`` = medium + expert.
3. BC, TD3+BC, IQL and CQL on medium, medium-replay and medium-expert, each exported and evaluated under
   ``mujoco/hopper@v1`` (the datasets are ours, not D4RL's, so no ``d4rl/*`` protocol is claimed).
4. MetaWorld MT10: BC of scripted-expert demonstrations (DAgger with one expert-only round) and DAgger.
5. Decision Transformer and GAIL from 10 episodes of the committed ``baseline:ppo-hopper`` (no PPO training
   needed), PPO and GRPO on ``pandapickcube/state@v1``: all far below their sources' budgets, labelled so.
   PPO on ``pandapickcube/vision@v1`` (both cameras + robot state, NatureCNN): a few thousand env steps that
   prove the image path (software rendering ran 3-9 env steps/s here), not a trained policy.
6. ``baseline:random`` bundles for the protocols a fresh machine evaluates in minutes.

Gradient-step budgets are far below the papers' 1M (a 2-core CPU machine; ``--scale`` multiplies them):
``results/BASELINES.md`` states each agent's budget next to its score.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_bench.datasets.d4rl_format import OfflineDataset
from vla_bench.datasets.d4rl_hdf5 import read_d4rl, write_d4rl

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "baselines"
RESULTS = ROOT / "results"
AGENTS = RESULTS / "agents"
TIMES = RESULTS / "build_times.json"  # wall-clock seconds of every step (committed: the README table cites them)

PPO_ENVS = ("hopper", "walker2d", "halfcheetah")
HOPPER_DATASETS = ("medium", "medium-replay", "medium-expert")
# gradient steps per offline algorithm (x --scale); CQL's step costs ~20 TD3+BC steps on a CPU
OFFLINE_STEPS = {"bc": 20_000, "td3bc": 20_000, "iql": 20_000, "cql": 2_000}
COLLECT = {"medium": (200, 1), "expert": (100, 2)}  # episodes, seed
COLLECT_NOISE = 0.1  # std of Gaussian action noise while collecting (D4RL sampled its stochastic SAC policies)
MT10 = "metaworld/mt10@v1"
RANDOM_PROTOCOLS = (
    "mujoco/hopper@v1", "mujoco/halfcheetah@v1", "mujoco/walker2d@v1", "mujoco/ant@v1", "mujoco/humanoid@v1",
    "pandapickcube/state@v1", MT10,
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def vla_bench(*args: str) -> None:
    command = [sys.executable, "-m", "vla_bench.cli", *args]
    print("+ vla-bench " + " ".join(args), flush=True)
    subprocess.run(command, check=True, env=ENV, cwd=ROOT)


def timed(name: str, done: Callable[[], bool], run: Callable[[], None]) -> None:
    """Run ``run`` unless ``done()``; record its wall-clock time under ``name``."""
    if done():
        print(f"= {name}: done already", flush=True)
        return
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    times[name] = round(seconds, 1)
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    TIMES.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")
    if not done():
        raise SystemExit(f"step {name} finished without its output")


def install_agent(name: str, run_dir: Path) -> Path:
    """Copy a trained run's exported policy and its curve to ``results/agents/NAME``."""
    target = AGENTS / name
    target.mkdir(parents=True, exist_ok=True)
    for file in ("model.onnx", "reward.onnx", "manifest.json", "curve.png", "train.csv", "eval.csv"):
        if (run_dir / file).is_file():
            shutil.copy2(run_dir / file, target / file)
    return target


def bundle_dir(protocol: str, agent: str) -> Path:
    slug = protocol.split("@", maxsplit=1)[0].replace("/", "-")
    return RESULTS / f"{slug}--{agent.replace(':', '-').replace('/', '-')}"


def evaluate(agent: str, protocol: str, workers: int = 1) -> None:
    out = bundle_dir(protocol, agent)
    timed(f"eval {agent} {protocol}", (out / "summary.json").is_file,
          lambda: vla_bench("eval", "--agent", agent, "--protocol", protocol, "--out", str(out),
                            "--workers", str(workers), "--format", "markdown"))


@dataclass
class Eval:
    step: int
    mean_return: float


def eval_rows(run_dir: Path) -> list[Eval]:
    with (run_dir / "eval.csv").open() as handle:
        return [Eval(int(float(r["step"])), float(r["mean_return"])) for r in csv.DictReader(handle)]


def ppo(env: str) -> None:
    run_dir = RUNS / f"ppo-{env}"
    extra = ["--snapshot-every", "50000", "--record-rollouts", "--eval-every", "50000"] if env == "hopper" else [
        "--eval-every", "100000"]
    timed(f"train ppo-{env}", (run_dir / "model.onnx").is_file,
          lambda: vla_bench("train", "ppo", "--protocol", f"mujoco/{env}@v1", "--steps", "1000000", "--seed", "0",
                            "--out", str(run_dir), "--eval-episodes", "10", "--no-progress", *extra))
    install_agent(f"ppo-{env}", run_dir)
    evaluate(f"baseline:ppo-{env}", f"mujoco/{env}@v1")


def hopper_datasets() -> dict[str, Path]:
    run_dir = RUNS / "ppo-hopper"
    data_dir = RUNS / "datasets"
    rows = eval_rows(run_dir)
    expert_return = rows[-1].mean_return
    medium = next(r for r in rows if r.mean_return >= expert_return / 3 and (run_dir / "snapshots" /
                                                                             f"step_{r.step}").is_dir())
    print(f"medium snapshot: step {medium.step} (return {medium.mean_return:.0f}; final {expert_return:.0f})")
    sources = {"medium": run_dir / "snapshots" / f"step_{medium.step}" / "model.onnx",
               "expert": run_dir / "model.onnx"}
    paths = {name: data_dir / f"hopper-{name}.hdf5" for name in (*HOPPER_DATASETS, "expert")}
    for name, model in sources.items():
        episodes, seed = COLLECT[name]
        command = ("collect", "--agent", str(model), "--protocol", "mujoco/hopper@v1", "--episodes", str(episodes),
                   "--noise", str(COLLECT_NOISE), "--seed", str(seed), "--out", str(paths[name]))
        timed(f"collect hopper-{name}", paths[name].is_file, functools.partial(vla_bench, *command))

    def replay() -> None:
        rollouts = read_d4rl(run_dir / "rollouts.hdf5")
        arrays = {k: v[: medium.step] for k, v in rollouts.arrays().items()}
        arrays["timeouts"][-1] = not arrays["terminals"][-1]  # the cut ends an episode
        write_d4rl(paths["medium-replay"], OfflineDataset.from_arrays(arrays), metadata={
            "kind": "training-rollouts", "official": False, "source": "ppo-hopper training transitions",
            "up_to_step": medium.step})

    def medium_expert() -> None:
        parts = [read_d4rl(paths["medium"]).arrays(), read_d4rl(paths["expert"]).arrays()]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        write_d4rl(paths["medium-expert"], OfflineDataset.from_arrays(arrays), metadata={
            "kind": "collection", "official": False, "source": "hopper-medium.hdf5 + hopper-expert.hdf5"})

    timed("dataset hopper-medium-replay", paths["medium-replay"].is_file, replay)
    timed("dataset hopper-medium-expert", paths["medium-expert"].is_file, medium_expert)
    return paths


def offline(algo: str, dataset: str, path: Path, scale: float) -> None:
    name = f"{algo}-hopper-{dataset}"
    run_dir = RUNS / name
    steps = max(int(OFFLINE_STEPS[algo] * scale), 1)
    timed(f"train {name}", (run_dir / "model.onnx").is_file,
          lambda: vla_bench("train", algo, "--dataset", str(path), "--protocol", "mujoco/hopper@v1", "--steps",
                            str(steps), "--seed", "0", "--out", str(run_dir), "--eval-episodes", "10",
                            "--log-every", "500", "--no-progress"))
    install_agent(name, run_dir)
    evaluate(f"baseline:{name}", "mujoco/hopper@v1")


def imitation(name: str, iterations: int, scale: float) -> None:
    """MT10 from the scripted experts: ``iterations=1`` is BC of expert demonstrations, more is DAgger."""
    run_dir = RUNS / name
    steps = max(int(20_000 * scale), iterations)
    timed(f"train {name}", (run_dir / "model.onnx").is_file,
          lambda: vla_bench("train", "dagger", "--expert", "baseline:metaworld-scripted", "--protocol", MT10,
                            "--steps", str(steps), "--seed", "0", "--out", str(run_dir), "--eval-episodes", "5",
                            "--option", f"iterations={iterations}", "--option", "episodes=10",
                            "--option", "task_one_hot=true", "--no-progress"))
    install_agent(name, run_dir)
    evaluate(f"baseline:{name}", MT10, workers=2)


# Issue #19, scaled down for a 2-core CPU and labelled so in results/BASELINES.md: DT and GAIL on 10 episodes of
# the bundled PPO Hopper policy (CORL trains DT 100k steps at batch 4096; GAIL runs ~1M env steps), PPO and GRPO
# on PandaPickCube (43-75 env steps/s here; RLinf trains 128 envs for hours).
DEMOS_HOPPER = ("baseline:ppo-hopper", 10, 3)  # agent, episodes, seed
SEQUENCE_STEPS = {"dt": 200, "gail": 4_096}  # DT gradient steps; GAIL env steps (x --scale)
PANDA = "pandapickcube/state@v1"
PANDA_STEPS = {"ppo": 20_480, "grpo": 6_400}  # env steps
PANDA_OPTIONS = {"ppo": ("hidden=256", "n_epochs=8", "batch_size=256"), "grpo": ("hidden=256",)}  # RLinf widths
PANDA_VISION = "pandapickcube/vision@v1"
# a path check: 8 rollouts of 512 steps (SB3's 2048 would hold 800 MB of float32 images), 4 epochs
PANDA_VISION_STEPS = 4_096
PANDA_VISION_OPTIONS = ("hidden=256", "n_steps=512", "batch_size=128", "n_epochs=4", "cnn_features=32")


def hopper_demos() -> Path:
    """Demonstrations from the committed PPO Hopper policy (no PPO training needed), Gaussian action noise."""
    path = RUNS / "datasets" / "hopper-ppo-bundled.hdf5"
    agent, episodes, seed = DEMOS_HOPPER
    timed("collect hopper-ppo-bundled", path.is_file,
          lambda: vla_bench("collect", "--agent", agent, "--protocol", "mujoco/hopper@v1", "--episodes", str(episodes),
                            "--noise", str(COLLECT_NOISE), "--seed", str(seed), "--out", str(path)))
    return path


def sequence_and_adversarial(scale: float) -> None:
    """Decision Transformer (offline) and GAIL (online, no reward) from the same Hopper demonstrations."""
    demos = hopper_demos()
    # DT: CORL's Hopper lr (8e-4) and its warm-up share (10k of 100k steps), scaled to this budget
    for algo, extra in (("dt", ("--log-every", "50", "--checkpoint-every", "100", "--option", "lr=8e-4",
                                "--option", f"warmup_steps={max(int(SEQUENCE_STEPS['dt'] * scale) // 10, 1)}")),
                        ("gail", ("--checkpoint-every", "4096"))):
        name = f"{algo}-hopper-ppo-bundled"
        run_dir = RUNS / name
        steps = max(int(SEQUENCE_STEPS[algo] * scale), 1)
        timed(f"train {name}", (run_dir / "model.onnx").is_file,
              functools.partial(vla_bench, "train", algo, "--dataset", str(demos), "--protocol", "mujoco/hopper@v1",
                                "--steps", str(steps), "--seed", "0", "--out", str(run_dir), "--eval-episodes", "5",
                                "--no-progress", *extra))
        install_agent(name, run_dir)
        evaluate(f"baseline:{name}", "mujoco/hopper@v1")


def pandapickcube() -> None:
    for algo in ("ppo", "grpo"):
        name = f"{algo}-pandapickcube-state"
        run_dir = RUNS / name
        options = [part for option in PANDA_OPTIONS[algo] for part in ("--option", option)]
        timed(f"train {name}", (run_dir / "model.onnx").is_file,
              functools.partial(vla_bench, "train", algo, "--protocol", PANDA, "--steps", str(PANDA_STEPS[algo]),
                                "--seed", "0", "--out", str(run_dir), "--eval-episodes", "10", "--no-progress",
                                *options))
        install_agent(name, run_dir)
        evaluate(f"baseline:{name}", PANDA)


def pandapickcube_vision() -> None:
    name = "ppo-pandapickcube-vision"
    run_dir = RUNS / name
    options = [part for option in PANDA_VISION_OPTIONS for part in ("--option", option)]
    timed(f"train {name}", (run_dir / "model.onnx").is_file,
          functools.partial(vla_bench, "train", "ppo", "--protocol", PANDA_VISION, "--steps", str(PANDA_VISION_STEPS),
                            "--seed", "0", "--out", str(run_dir), "--eval-episodes", "2", "--log-every", "512",
                            "--checkpoint-every", "1024", "--no-progress", *options))
    install_agent(name, run_dir)
    evaluate(f"baseline:{name}", PANDA_VISION, workers=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append",
                        choices=("ppo", "hopper-offline", "metaworld", "sequence", "panda", "panda-vision", "random",
                                 "table"),
                        help="run only these parts (repeatable; default: all, in order)")
    parser.add_argument("--ppo-env", choices=PPO_ENVS, action="append", help="PPO only on these (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the offline gradient-step budgets")
    args = parser.parse_args()
    parts = args.only or ["ppo", "hopper-offline", "metaworld", "sequence", "panda", "panda-vision", "random",
                          "table"]
    if "ppo" in parts:
        for env in args.ppo_env or PPO_ENVS:
            ppo(env)
    if "hopper-offline" in parts:
        paths = hopper_datasets()
        for dataset in HOPPER_DATASETS:
            for algo in OFFLINE_STEPS:
                offline(algo, dataset, paths[dataset], args.scale)
    if "metaworld" in parts:
        imitation("bc-mt10", 1, args.scale)
        imitation("dagger-mt10", 4, args.scale)
    if "sequence" in parts:
        sequence_and_adversarial(args.scale)
    if "panda" in parts:
        pandapickcube()
    if "panda-vision" in parts:
        pandapickcube_vision()
    if "random" in parts:
        for protocol in RANDOM_PROTOCOLS:
            evaluate("baseline:random", protocol, workers=2)
    if "table" in parts:
        from baselines_table import write_table  # noqa: PLC0415 - sibling script

        write_table(RESULTS, TIMES)


if __name__ == "__main__":
    main()
