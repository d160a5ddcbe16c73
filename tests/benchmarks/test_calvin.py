"""CALVIN: our reimplementation of CALVIN's evaluation chains and start states (runs everywhere), and the
adapter on a real calvin_env (skipped unless a CALVIN runtime is given: ``VLA_BENCH_CALVIN_PYTHON`` = its
interpreter; the adapter is then tested without the dataset, from calvin_env's own scene-D config)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vla_bench.benchmarks.calvin.adapter import BUILTIN_CONFIG, validation_folder
from vla_bench.benchmarks.calvin.sequences import (
    CATEGORIES,
    RULES,
    TASK_ORDER,
    calvin_sequences,
    feasible,
    fnv1_32,
    start_observation,
    start_states,
)
from vla_bench.benchmarks.chain import generate_chains
from vla_bench.protocols import get_protocol
from vla_bench.spec.errors import UserError

SPLITS = {"calvin/d-d@v1": "D->D", "calvin/abc-d@v1": "ABC->D", "calvin/abcd-d@v1": "ABCD->D"}
# CALVIN's own get_sequences (mees/calvin @fa03f01), run once on this machine from the fetched snapshot:
# the first two of get_sequences(12) and of get_sequences(1000) (all 1000 equal the shipped file)
CALVIN_12 = [
    ({"led": 0, "lightbulb": 0, "slider": "right", "drawer": "closed", "red_block": "slider_right",
      "blue_block": "table", "pink_block": "table", "grasped": 0},
     ("rotate_blue_block_right", "lift_blue_block_table", "place_in_slider", "turn_on_lightbulb", "open_drawer")),
    ({"led": 0, "lightbulb": 0, "slider": "right", "drawer": "closed", "red_block": "slider_left",
      "blue_block": "slider_right", "pink_block": "table", "grasped": 0},
     ("open_drawer", "lift_red_block_slider", "place_in_drawer", "move_slider_left", "push_pink_block_right")),
]
CALVIN_1000_FIRST = [
    ("rotate_blue_block_right", "move_slider_right", "lift_red_block_slider", "place_in_slider", "turn_off_lightbulb"),
    ("turn_off_led", "push_into_drawer", "lift_blue_block_drawer", "place_in_slider", "close_drawer"),
]


def test_fnv1_matches_pyhash_test_vectors() -> None:
    # pyhash's fnv1_32 test vectors (PLATFORM.md): bytes, and a str (hashed as UTF-16-LE)
    assert fnv1_32(b"test") == 3698262380
    assert fnv1_32("test".encode("utf-16-le")) == 3910690890


def test_the_rules_cover_calvins_34_tasks_in_11_categories() -> None:
    assert len(TASK_ORDER) == len(RULES) == len(CATEGORIES) == 34
    assert len(set(CATEGORIES.values())) == 11
    states = start_states()
    assert len(states) == 192
    assert all(1 <= list(s.values()).count("table") <= 2 for s in states)


def test_chains_are_calvins() -> None:
    assert calvin_sequences(12)[:2] == CALVIN_12
    protocol = get_protocol("calvin/d-d@v1")
    assert protocol.chain is not None
    chains = generate_chains(protocol.chain)  # the shipped cache, checked against the pinned hash
    assert [c.subtasks for c in chains[:2]] == CALVIN_1000_FIRST
    assert all(c.start is not None and feasible(c.start, c.subtasks) for c in chains)
    assert len({c.start["drawer"] for c in chains if c.start}) == 2  # both drawer states occur


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4.5 min here, like CALVIN's own 86 s on 2 free cores
def test_the_shipped_chains_are_a_recomputation() -> None:
    protocol = get_protocol("calvin/d-d@v1")
    assert protocol.chain is not None
    fresh = [(start, chain) for start, chain in calvin_sequences(1000)]
    shipped = [(c.start, c.subtasks) for c in generate_chains(protocol.chain)]
    assert fresh == shipped


def test_start_state_matches_calvins_layout() -> None:
    # calvin utils.get_env_state_for_initial_condition for this state, computed with CALVIN's code
    state: dict[str, int | str] = {"led": 0, "lightbulb": 0, "slider": "right", "drawer": "closed",
                                   "red_block": "table", "blue_block": "slider_left", "pink_block": "slider_right",
                                   "grasped": 0}
    robot, scene = start_observation(state)
    assert robot.shape == (15,) and robot[-1] == 1.0
    assert scene[6:9].tolist() == [0.0500000896, -0.120000177, 0.459990009]
    assert scene[[11, 17, 23]] == pytest.approx([1.2930865691293194, 1.2831345353408918, 1.8286020309830087])
    lit = start_observation({**state, "lightbulb": 1, "drawer": "open", "slider": "left"})[1]
    assert (lit[0], lit[1], lit[3], lit[4]) == (0.28, 0.22, 0.088, 1.0)


def test_the_three_splits_share_chains_and_record_their_split() -> None:
    protocols = {pid: get_protocol(pid) for pid in SPLITS}
    for pid, protocol in protocols.items():
        assert protocol.chain is not None and protocol.chain.split == SPLITS[pid]
        assert (protocol.chain.n_chains, protocol.chain.length, protocol.chain.steps_per_subtask) == (1000, 5, 360)
        assert set(protocol.chain.instructions) == set(TASK_ORDER)
    assert len({p.chain.chains_sha256 for p in protocols.values() if p.chain}) == 1
    assert len({p.sha256() for p in protocols.values()}) == 3


def test_the_dataset_folder_is_required_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="VLA_BENCH_CALVIN_DATASET to the dataset folder"):
        validation_folder(None)
    with pytest.raises(UserError, match="holds no CALVIN validation folder"):
        validation_folder(str(tmp_path))
    (tmp_path / "validation" / ".hydra").mkdir(parents=True)
    (tmp_path / "validation" / ".hydra" / "merged_config.yaml").write_text("{}")
    assert validation_folder(str(tmp_path)) == tmp_path / "validation"
    assert validation_folder(str(tmp_path / "validation")) == tmp_path / "validation"


CALVIN_PYTHON = os.environ.get("VLA_BENCH_CALVIN_PYTHON", "")

# Runs in the CALVIN runtime's interpreter: a state-only, short-budget version of calvin/d-d@v1 on the real
# calvin_env; the scene is moved to a subtask's effect to check the oracle-driven chain progress.
_IN_RUNTIME = textwrap.dedent('''
    import json, sys
    import numpy as np
    from vla_bench.protocols import get_protocol
    from vla_bench.protocols.plan import episode_spec
    from vla_bench.benchmarks.calvin.adapter import CalvinAdapter
    from vla_bench.benchmarks.calvin.sequences import start_observation
    from vla_bench.spec import Protocol
    data = json.loads(get_protocol("calvin/d-d@v1").canonical_json())
    data["observation"] = {"mode": "state", "language": True}
    data["chain"]["steps_per_subtask"] = 4
    data["max_steps"] = 20
    protocol = Protocol.model_validate(data)
    session = CalvinAdapter().make_session(protocol, protocol.tasks[0])
    out = {"chains": []}
    for index in range(len(session.chains)):
        chain = session.chains[index]
        if chain.subtasks[0] in ("turn_on_led", "turn_off_led"):
            break
    first = session.reset(episode_spec(protocol, "chains", index))
    out["index"], out["subtasks"] = index, list(chain.subtasks)
    out["state"], out["instruction"] = first["state"].tolist(), first["instruction"]
    backend = session._backend
    robot, scene = start_observation(chain.start)
    scene[5] = 1 - scene[5]  # the led toggled: the first subtask's effect
    backend._env.reset(robot_obs=robot, scene_obs=scene)
    zero = np.zeros(7, np.float32)
    steps = []
    while True:
        result = session.step(zero)
        steps.append([result.info["subtasks_completed"], result.observation["instruction"], result.terminated])
        if result.terminated:
            break
    out["steps"] = steps
    print("RESULT " + json.dumps(out), flush=True)
''')


@pytest.mark.skipif(not CALVIN_PYTHON, reason="no CALVIN runtime: set VLA_BENCH_CALVIN_PYTHON to an interpreter "
                                              "with calvin_env installed (see vla_bench/benchmarks/calvin/runtime.py)")
def test_a_chain_runs_on_the_real_calvin_env() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "VLA_BENCH_CALVIN_DATASET": BUILTIN_CONFIG}
    done = subprocess.run([CALVIN_PYTHON, "-c", _IN_RUNTIME], capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # calvin_env and pybullet print to stdout too
    out = json.loads(next(line[7:] for line in done.stdout.splitlines() if line.startswith("RESULT ")))
    protocol = get_protocol("calvin/d-d@v1")
    assert protocol.chain is not None
    instructions = protocol.chain.instructions
    assert len(out["state"]) == 15 and out["instruction"] == instructions[out["subtasks"][0]]
    # the toggled led completes subtask 1 at the first step; the next one then runs out of its 4 steps
    assert out["steps"][0][:2] == [1, instructions[out["subtasks"][1]]]
    assert [s[0] for s in out["steps"]] == [1] * 5 and out["steps"][-1][2] is True
    assert sys.executable  # the orchestrating interpreter needs no calvin_env
    assert np.isfinite(out["state"]).all()
