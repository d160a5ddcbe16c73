"""Per-step overhead of each policy gateway against the same policy in-process (not a test; prints a table).

Every server runs in its own process on loopback; each row is one policy call, timed from this process, and the
overhead is its mean minus the in-process mean, measured in the same run:

* ``ws://``: openpi's wire, ``vla-bench serve-policy`` (the earlier figures: 0.37 ms state, 0.67 ms images);
* ``vlaeval://`` against ``vla-bench serve-policy --wire vla-eval``, and against vla-eval's own
  ``PredictModelServer`` (its ``serve``) holding the same policy;
* vla-eval's own client (``vla_eval.connection.Connection.act``, its default PNG image encoding and raw) against
  ``serve-policy --wire vla-eval``;
* ``lerobot:DIR`` (when ``vla-bench setup lerobot`` has been run): a tiny ACT policy in the lerobot runtime; its
  in-process reference is the server's own time per call (``select_action`` with processors), so the overhead is
  the transport and mapping.

Observations: state (39 floats), and two 224x224 RGB cameras + 8 floats + an instruction.

Run: ``.venv/bin/python bench/gateway_overhead.py [--steps N]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from remote_and_ray import ACTION_DIM, TASK, StatePolicy  # the same policy and task as the transport bench

HERE = Path(__file__).resolve().parent
ROUNDS = 10


def peer_server() -> None:
    """vla-eval's own PredictModelServer holding StatePolicy (run as ``gateway_overhead.py --peer-server``)."""
    import anyio
    from vla_eval.model_servers.predict import PredictModelServer
    from vla_eval.model_servers.serve import serve_async

    class Served(PredictModelServer):
        policy = StatePolicy()

        def get_action_spec(self) -> dict[str, Any]:
            return {}

        def get_observation_spec(self) -> dict[str, Any]:
            return {}

        def predict(self, obs: dict[str, Any], ctx: Any) -> dict[str, Any]:
            return {"actions": self.policy.act(obs)}

    async def main() -> None:
        async with anyio.create_task_group() as group:
            port = await group.start(serve_async, Served(), "127.0.0.1", 0)
            print(f"ws://127.0.0.1:{port}", file=sys.stderr, flush=True)

    anyio.run(main)


# ------------------------------------------------------------------------------------------------- helpers
@contextmanager
def started(command: list[str]) -> Iterator[int]:
    """A server process that prints ``ws://127.0.0.1:PORT`` on stderr when ready; yields PORT."""
    process = subprocess.Popen(command, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, COLUMNS="300"))
    assert process.stderr is not None
    line = ""
    while "ws://127.0.0.1:" not in line:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"server {command} did not start")
    try:
        yield int(line.split("ws://127.0.0.1:")[1].split()[0].rstrip("(,);"))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_policy(*extra: str) -> list[str]:
    return [sys.executable, "-m", "vla_bench.cli", "serve-policy", "remote_and_ray:StatePolicy", "--port", "0",
            "--task-spec", json.dumps(TASK), *extra]


def per_call_us(call: Callable[[], Any], steps: int) -> list[float]:
    for _ in range(min(50, steps)):
        call()
    times = []
    for _ in range(steps):
        begun = time.perf_counter()
        call()
        times.append((time.perf_counter() - begun) * 1e6)
    return times


def row(label: str, times: list[float], base: list[float] | float | None) -> None:
    """Mean, p50, p99 (µs), and the overhead over ``base`` (ms) of the means and of the medians."""
    mean = statistics.fmean(times)
    p50, p99 = np.percentile(times, [50, 99])
    if base is None:
        extra = f"{'–':>9} {'–':>9}"
    elif isinstance(base, list):
        extra = f"{(mean - statistics.fmean(base)) / 1e3:9.3f} {(p50 - float(np.median(base))) / 1e3:9.3f}"
    else:  # a mean time per call (the lerobot server's): only the means compare
        extra = f"{(mean - base) / 1e3:9.3f} {'–':>9}"
    print(f"  {label:<46} {mean:9.1f} {p50:9.1f} {p99:9.1f}  {extra}", flush=True)


def vlaeval_client_times(port: int, observation: dict[str, Any], steps: int, image_format: str) -> list[float]:
    import anyio
    from vla_eval.connection import Connection
    from vla_eval.protocol.numpy_codec import set_image_format

    set_image_format(image_format)  # type: ignore[arg-type]
    wire = {"state": observation["state"], **({"images": observation["images"],
                                               "task_description": observation["instruction"]}
                                              if "images" in observation else {})}

    async def run() -> list[float]:
        times = []
        async with Connection(f"ws://127.0.0.1:{port}") as connection:
            await connection.start_episode({"task": {"name": "bench"}})
            for i in range(steps + 50):
                begun = time.perf_counter()
                await connection.act(wire)
                if i >= 50:
                    times.append((time.perf_counter() - begun) * 1e6)
        return times

    try:
        return anyio.run(run)
    finally:
        set_image_format("png")


# ---------------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="policy calls per state measurement (images: /5)")
    parser.add_argument("--peer-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_server:
        peer_server()
        return
    sys.path.insert(0, str(HERE))
    from vla_bench.agents import load_agent
    from vla_bench.spec import TaskSpec

    task = TaskSpec.from_json(TASK)
    rng = np.random.default_rng(0)
    observations = {
        "state (39 floats)": {"state": rng.normal(size=39).astype(np.float32)},
        "2 x 224x224 RGB + state + text": {
            "state": rng.normal(size=8).astype(np.float32),
            "images": {"agentview": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
                       "wrist": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)},
            "instruction": "put both the alphabet soup and the tomato sauce in the basket"},
    }
    print(f"per-step cost of one policy call (µs; overhead = gateway - in-process, ms); {os.cpu_count()} cores, "
          "other jobs may be loading them")
    print(f"  {'':<46} {'mean':>9} {'p50':>9} {'p99':>9}  {'ovh mean':>9} {'ovh p50':>9}")
    with started(serve_policy()) as openpi, started(serve_policy("--wire", "vla-eval")) as ours, \
            started([sys.executable, str(Path(__file__).resolve()), "--peer-server"]) as peer:
        for label, observation in observations.items():
            steps = args.steps if "RGB" not in label else max(args.steps // 5, 50)
            local = StatePolicy()
            local.reset(task)
            gateways: dict[str, Any] = {"in-process": local}
            for name, spec in (("ws:// -> serve-policy (openpi wire)", f"ws://127.0.0.1:{openpi}"),
                               ("vlaeval:// -> serve-policy --wire vla-eval", f"vlaeval://127.0.0.1:{ours}"),
                               ("vlaeval:// -> vla-eval PredictModelServer", f"vlaeval://127.0.0.1:{peer}")):
                gateways[name] = load_agent(spec).factory()
                gateways[name].reset(task)
            # interleaved rounds: a load spike from other jobs hits every gateway alike
            times: dict[str, list[float]] = {name: [] for name in gateways}
            for _ in range(ROUNDS):
                for name, policy in gateways.items():
                    times[name] += per_call_us(lambda o=observation, p=policy: p.act(o), steps // ROUNDS)
            base = times["in-process"]
            print(f"  -- {label}")
            for name, measured in times.items():
                row(name, measured, None if name == "in-process" else base)
            for name, policy in gateways.items():
                if name != "in-process":
                    policy.close()
            for image_format in ("png", "raw") if "RGB" in label else ("raw",):
                client_times = vlaeval_client_times(ours, observation, steps, image_format)
                row(f"vla-eval Connection ({image_format}) -> --wire vla-eval", client_times, base)
    lerobot(max(args.steps // 5, 50))


def lerobot(steps: int) -> None:
    from vla_bench.runtimes.resolve import resolve

    resolution = resolve("lerobot")
    if resolution.kind == "missing":
        print("  lerobot: runtime not built (`vla-bench setup lerobot`), skipped")
        return
    import tempfile

    from vla_bench.agents import load_agent
    from vla_bench.agents.remote import CONTROL_KEY
    from vla_bench.spec import TaskSpec

    sys.path.insert(0, str(HERE.parent / "tests" / "agents"))
    from test_lerobot_runtime import MAKE

    rng = np.random.default_rng(0)
    cases = {"state (39 floats)": (39, None, {"state": rng.normal(size=39).astype(np.float32)}),
             "224x224 RGB + 8 floats": (8, [3, 224, 224], {
                 "state": rng.normal(size=8).astype(np.float32),
                 "images": {"corner4": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)}})}
    print("  -- lerobot:DIR, tiny ACT (chunk 6, 4 actions per model call); reference: the server's own time per call")
    for label, (state_dim, image, observation) in cases.items():
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run([resolution.python, "-c", MAKE, folder, str(state_dim), str(ACTION_DIM), json.dumps(image)],
                           check=True, capture_output=True)
            agent = load_agent(f"lerobot:{folder}")
            policy: Any = agent.factory()
            policy.reset(TaskSpec.from_json({**TASK, "observation_mode": "pixels+state" if image else "state"}))
            times = per_call_us(lambda o=observation, p=policy: p.act(o), steps)
            link = policy._link
            stats = link.request({CONTROL_KEY: "stats", "seq": 0})["stats"]
            server_us = stats["infer_seconds"] / max(stats["requests"], 1) * 1e6
            row(f"lerobot {label} (server {server_us:.0f} µs/call)", times, server_us)
            policy.close()


if __name__ == "__main__":
    main()
