"""Is a robustness arm the clean episode with only what it claims changed? Episode 0 of a robustness protocol's
first task: its clean arm against the clean protocol's episode, and each named arm against the clean arm, after
the reset and after each of ``--steps`` steps of one fixed random action sequence. Prints, per arm, whether the
simulator state (``sim_state`` where the session has it) and the observation state are identical at every step,
whether every image is, and the first frame's mean absolute pixel difference per camera (0-255).

    MUJOCO_GL=egl PYTHONPATH=. $LIBERO_PYTHON scripts/arm_equality.py libero/spatial-robust@v1 \\
        camera.1,camera.2,lighting.1,lighting.2,image_noise.1
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol, load_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol

Frame = tuple[np.ndarray | None, dict[str, np.ndarray], np.ndarray | None]


def _frame(session: Any, observation: Any) -> Frame:
    inner = getattr(session, "inner", session)
    sim = np.array(inner.sim_state()) if hasattr(inner, "sim_state") else None
    images = {k: np.array(v) for k, v in observation.get("images", {}).items()}
    state = np.array(observation["state"]) if "state" in observation else None
    return sim, images, state


def rollout(protocol: Protocol, task: str, base: str, steps: int) -> list[Frame]:
    """Episode 0 of ``task`` (seeded as ``base``'s), then ``steps`` actions U(-0.5, 0.5) of the action box's
    half-range from one fixed generator: the same sequence in every arm."""
    started = time.time()
    session = resolve_adapter(protocol.adapter).make_session(protocol, protocol.task(task))
    try:
        frames = [_frame(session, session.reset(episode_spec(protocol, base, 0)))]
        low = np.asarray(session.task_spec.action_low, dtype=np.float32)
        high = np.asarray(session.task_spec.action_high, dtype=np.float32)
        draws = np.random.default_rng(0).uniform(-0.5, 0.5, (steps, low.size)).astype(np.float32)
        for draw in draws:
            action = ((low + high) / 2 + draw * (high - low) / 2).astype(np.float32)
            frames.append(_frame(session, session.step(action).observation))
    finally:
        session.close()
    print(f"  ran {task} of {protocol.id} in {time.time() - started:.1f} s", flush=True)
    return frames


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def report(name: str, got: list[Frame], want: list[Frame]) -> None:
    sims = all(_same(x[0], y[0]) for x, y in zip(got, want, strict=True))
    states = all(_same(x[2], y[2]) for x, y in zip(got, want, strict=True))
    images = all(np.array_equal(x[1][k], y[1][k]) for x, y in zip(got, want, strict=True) for k in x[1])
    first = {k: round(float(np.mean(np.abs(got[0][1][k].astype(float) - want[0][1][k].astype(float)))), 2)
             for k in got[0][1]}
    print(f"{name}: simulator state identical at every step: {sims}; observation state: {states}; "
          f"images: {images}; first frame mean |d| {first}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", help="robustness protocol id or TOML file")
    parser.add_argument("arms", help="comma-separated <axis>.<level> arms of the first task")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    robust = load_protocol(args.protocol)
    assert robust.perturbation is not None, f"{robust.id} is not a robustness protocol"
    clean_protocol = get_protocol(robust.perturbation.clean_protocol)
    base = robust.tasks[0].name
    clean = rollout(robust, base, base, args.steps)
    report(f"clean arm vs {clean_protocol.id}", clean, rollout(clean_protocol, base, base, args.steps))
    for arm in args.arms.split(","):
        report(arm, rollout(robust, f"{base}.{arm}", base, args.steps), clean)


if __name__ == "__main__":
    main()
