"""Remote policies, policy serving and the Ray executor, measured in one run (not a test; prints tables).

1. Per-step overhead of a remote policy (``--agent ws://``, ``vla-bench serve-policy`` in another process, on
   loopback) against the same policy in-process, for state observations (39 floats) and for two 224x224 RGB
   cameras + state + instruction. Goal: < 1 ms per step for state. openpi's own client is measured on the
   same server when ``openpi-client`` is installed.
2. Episodes/s of the local and the Ray executor (local Ray, ``num_cpus=2``) on the same protocol, schedule and
   agent, interleaved, and their ratio (goal: Ray within 10% of local on one node); the records must be
   identical, or the comparison is void.
3. Throughput of ``serve-policy`` for 1, 4 and 16 concurrent clients (one connection each, one request in
   flight each): a numpy MLP and an accelerator-like model (a fixed 4 ms per call, one call at a time), each
   served batched (``act_batch``) and unbatched (one policy per connection).

Run: ``.venv/bin/python bench/remote_and_ray.py [--steps N] [--episodes N] [--repeats R] [--seconds S]
[--only overhead|executors|throughput]`` (local vs Ray alone: ``--only executors``)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import asyncio
import functools
import json
import logging
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vla_bench.spec import Observation

HERE = Path(__file__).resolve().parent
STATE_DIM, ACTION_DIM, HIDDEN = 39, 4, 256
TASK = {"name": "bench", "instruction": "", "action_low": [-1.0] * ACTION_DIM, "action_high": [1.0] * ACTION_DIM,
        "max_steps": 1000, "observation_mode": "state"}


# --------------------------------------------------------------------------- policies served by the subprocesses
class StatePolicy:
    """A trivial linear map of the state: the in-process cost is ~µs, so the remote figure is the transport."""

    def __init__(self) -> None:
        self.weights = np.cos(np.arange(ACTION_DIM * 64, dtype=np.float32)).reshape(ACTION_DIM, 64)

    def reset(self, task: Any) -> None:
        pass

    def act(self, observation: Observation) -> np.ndarray:
        state = np.asarray(observation["state"], dtype=np.float32)
        return np.tanh(self.weights[:, : state.shape[0]] @ state).astype(np.float32)


class MLP:
    """A two-hidden-layer numpy MLP, batched."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.layers = [rng.normal(size=shape).astype(np.float32) / np.sqrt(shape[0])
                       for shape in ((STATE_DIM, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, ACTION_DIM))]

    def reset(self, task: Any) -> None:
        pass

    def forward(self, states: np.ndarray) -> np.ndarray:
        x = states
        for weights in self.layers[:-1]:
            x = np.maximum(x @ weights, 0)
        return np.tanh(x @ self.layers[-1])

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        return self.forward(observation["state"][None])[0]

    def act_batch(self, observations: Sequence[dict[str, Any]]) -> np.ndarray:
        return self.forward(np.stack([o["state"] for o in observations]))


class UnbatchedMLP(MLP):
    act_batch = None  # type: ignore[assignment]  # no batched form: one policy per connection


_DEVICE = threading.Lock()  # one accelerator: calls run one at a time


class AcceleratorLike(MLP):
    """4 ms per call whatever the batch size (plus 0.05 ms per item), one call at a time: a GPU model's shape."""

    def act_batch(self, observations: Sequence[dict[str, Any]]) -> np.ndarray:
        with _DEVICE:
            time.sleep(0.004 + 0.00005 * len(observations))
            return super().act_batch(observations)

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        return self.act_batch([observation])[0]


class UnbatchedAcceleratorLike(AcceleratorLike):
    act_batch = None  # type: ignore[assignment]

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        with _DEVICE:
            time.sleep(0.004 + 0.00005)
            return MLP.act(self, observation)


# ------------------------------------------------------------------------------------------------- helpers
@contextmanager
def served(factory: str, *extra: str) -> Iterator[int]:
    """``vla-bench serve-policy remote_and_ray:FACTORY`` in a subprocess; yields its port."""
    env = dict(os.environ, COLUMNS="300")
    process = subprocess.Popen(
        [sys.executable, "-m", "vla_bench.cli", "serve-policy", f"remote_and_ray:{factory}", "--port", "0",
         "--task-spec", json.dumps(TASK), *extra],
        cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    if "ws://127.0.0.1:" not in line:
        process.kill()
        raise RuntimeError(f"serve-policy did not start: {line}{process.stderr.read()}")
    try:
        yield int(line.split("ws://127.0.0.1:")[1].split()[0])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def per_call_us(call: Callable[[], Any], steps: int) -> list[float]:
    for _ in range(min(100, steps)):
        call()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    return times


def _row(label: str, times: list[float], base: float | None = None) -> str:
    mean = statistics.fmean(times)
    p50, p99 = np.percentile(times, [50, 99])
    overhead = f"{(mean - base) / 1e3:8.3f}" if base is not None else "       –"
    return f"  {label:<34} {mean:9.1f} {p50:9.1f} {p99:9.1f}   {overhead}"


# ---------------------------------------------------------------------------------------- 1. per-step overhead
_ECHO = """
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while data := conn.recv(65536):
    conn.sendall(data)
"""


def tcp_echo_floor(steps: int) -> list[float]:
    """A round trip to another process over loopback TCP: what no websocket protocol can beat here."""
    process = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            payload = b"x" * 200

            def round_trip() -> None:
                sock.sendall(payload)
                received = 0
                while received < len(payload):
                    received += len(sock.recv(65536))

            return per_call_us(round_trip, steps)
    finally:
        process.kill()
        process.wait()


def overhead(steps: int) -> None:
    from vla_bench.agents import load_agent
    from vla_bench.agents.serve_wire import task_spec_from_json

    task = task_spec_from_json(TASK)
    rng = np.random.default_rng(0)
    observations: dict[str, Observation] = {
        "state (39 floats)": {"state": rng.normal(size=STATE_DIM).astype(np.float32)},
        "2 x 224x224 RGB + state + text": {
            "state": rng.normal(size=8).astype(np.float32),
            "images": {"agentview": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
                       "wrist": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)},
            "instruction": "put both the alphabet soup and the tomato sauce in the basket",
        },
    }
    print("\n1. per-step cost of one policy call (µs; overhead = remote - in-process, in ms)")
    print(f"  {'':<34} {'mean':>9} {'p50':>9} {'p99':>9}   overhead ms")
    print(_row("floor: TCP echo, 200 B, 2 processes", tcp_echo_floor(steps)))
    with served("StatePolicy") as port:
        for label, observation in observations.items():
            n = steps if "state" in label and "RGB" not in label else max(steps // 5, 50)
            local = StatePolicy()
            local.reset(task)
            base = per_call_us(functools.partial(local.act, observation), n)
            print(f"  -- {label}")
            print(_row("in-process", base))
            remote = load_agent(f"ws://127.0.0.1:{port}").factory()
            remote.reset(task)
            times = per_call_us(functools.partial(remote.act, observation), n)
            print(_row("ws:// (vla-bench client)", times, statistics.fmean(base)))
            remote.close()  # type: ignore[attr-defined]
            try:
                from openpi_client.websocket_client_policy import WebsocketClientPolicy
            except ImportError:
                continue
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                client = WebsocketClientPolicy(host="127.0.0.1", port=port)
                times = per_call_us(functools.partial(client.infer, observation), n)
            print(_row("openpi-client WebsocketClientPolicy", times, statistics.fmean(base)))


# ------------------------------------------------------------------------------------------- 2. local vs Ray
def executors(episodes: int, repeats: int = 3) -> None:
    from vla_bench.agents import load_agent
    from vla_bench.harness.eval_config import EvalConfig
    from vla_bench.harness.runner import run_evaluation
    from vla_bench.protocols import get_protocol

    protocol = get_protocol("mujoco/hopper@v1")
    agent = load_agent("baseline:random")

    def run(executor: str) -> tuple[float, dict[Any, Any]]:
        options = EvalConfig(limit_episodes=episodes, workers=2, envs_per_worker=4, progress=False,
                             executor=executor)
        started = time.perf_counter()
        result = run_evaluation(protocol, agent, None, options)
        return time.perf_counter() - started, {r.key: r.outcome() for r in result.records}

    print(f"\n2. executors: {protocol.id}, baseline:random, {episodes} episodes, 2 workers x 4 envs, "
          f"{repeats} interleaved repeats (wall incl. worker start-up; Ray's own init once, not counted)")
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance for the measurement
    temp = tempfile.mkdtemp(prefix="vlab-ray-", dir="/tmp")
    local_times, ray_times = [], []
    try:
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 _temp_dir=temp)
        print(f"  ray.init(num_cpus=2)  {time.perf_counter() - started:6.2f} s  (once per cluster, not counted below)")
        for attempt in range(1, repeats + 1):
            local_s, local_records = run("local")
            ray_s, ray_records = run("ray")
            local_times.append(local_s)
            ray_times.append(ray_s)
            steps = sum(r["length"] for r in local_records.values())
            same = "identical records" if ray_records == local_records else "RECORDS DIFFER: comparison void"
            print(f"  run {attempt}: local {local_s:6.2f} s ({steps / local_s:7.0f} steps/s)   "
                  f"ray {ray_s:6.2f} s ({steps / ray_s:7.0f} steps/s)   {same}")
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    local_s, ray_s = statistics.median(local_times), statistics.median(ray_times)
    print(f"  median: local {episodes / local_s:6.2f} episodes/s, ray {episodes / ray_s:6.2f} episodes/s; "
          f"ray / local throughput {local_s / ray_s:.3f}  [{min(local_times) / max(ray_times):.3f}-"
          f"{max(local_times) / min(ray_times):.3f}]  (goal >= 0.9: within 10% on one node)")


def _binary(frame: str | bytes) -> bytes:
    if isinstance(frame, str):
        raise TypeError("the policy server sent a text frame")
    return frame


# ------------------------------------------------------------------------------------------- 3. serving throughput
async def _clients(port: int, count: int, seconds: float) -> tuple[int, list[float], dict[str, Any]]:
    from websockets.asyncio.client import connect

    from vla_bench.spec.wire import packb, unpackb

    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    warm_until = time.perf_counter() + min(0.5, seconds / 4)
    counted = 0

    async def one(seed: int) -> None:
        nonlocal counted
        rng = np.random.default_rng(seed)
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None, proxy=None) as ws:
            await ws.recv()
            message = packb({"state": rng.normal(size=STATE_DIM).astype(np.float32)})
            while (now := time.perf_counter()) < stop_at:
                await ws.send(message)
                unpackb(_binary(await ws.recv()))
                if now >= warm_until:
                    latencies.append(time.perf_counter() - now)
                    counted += 1

    await asyncio.gather(*(one(seed) for seed in range(count)))
    async with connect(f"ws://127.0.0.1:{port}", compression=None, proxy=None) as ws:
        await ws.recv()
        await ws.send(packb({"__vla_bench__": "stats", "seq": 1}))
        stats = unpackb(_binary(await ws.recv()))["stats"]
    return counted, latencies, stats


def throughput(seconds: float) -> None:
    print(f"\n3. serve-policy throughput (requests/s over {seconds:g} s; all clients in one asyncio process)")
    print(f"  {'model':<26} {'served':<10} {'clients':>7} {'req/s':>9} {'mean ms':>8} {'p99 ms':>8} "
          f"{'mean batch':>10}")
    models = [("numpy MLP 39-256-256-4", "MLP", "UnbatchedMLP"),
              ("4 ms/call accelerator", "AcceleratorLike", "UnbatchedAcceleratorLike")]
    for label, batched, unbatched in models:
        for mode, factory in (("batched", batched), ("unbatched", unbatched)):
            for count in (1, 4, 16):
                with served(factory) as port:
                    counted, latencies, stats = asyncio.run(_clients(port, count, seconds))
                measured = seconds - min(0.5, seconds / 4)
                p99 = float(np.percentile(latencies, 99)) * 1e3 if latencies else float("nan")
                print(f"  {label:<26} {mode:<10} {count:>7} {counted / measured:9.0f} "
                      f"{statistics.fmean(latencies) * 1e3:8.2f} {p99:8.2f} {stats['mean_batch']:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="policy calls per overhead measurement")
    parser.add_argument("--episodes", type=int, default=50, help="episodes of the executor comparison")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved local/Ray runs of the executor comparison")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput measurement")
    parser.add_argument("--only", choices=("overhead", "executors", "throughput"), default=None)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(overhead and throughput figures are single runs)")
    if args.only in (None, "overhead"):
        overhead(args.steps)
    if args.only in (None, "executors"):
        executors(args.episodes, args.repeats)
    if args.only in (None, "throughput"):
        throughput(args.seconds)


if __name__ == "__main__":
    main()
