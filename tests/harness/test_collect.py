"""`vla-bench collect`: a policy, a protocol and N episodes -> a D4RL-format file that reads back, is
deterministic whatever the workers, never reuses evaluation seeds and is marked as no evaluation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vla_bench.datasets import read_d4rl
from vla_bench.harness.collect import collect, collection_protocol, environment_sizes
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec, full_plan
from vla_bench.spec.errors import UserError

TESTS = Path(__file__).resolve().parents[1]
PROTOCOL = "d4rl/hopper-medium@v1"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("collect") / "hopper.hdf5"
    result = collect("baseline:random", PROTOCOL, path, episodes=4, max_steps=40, noise=0.1, envs_per_worker=4)
    assert result.path == path and result.n_episodes == 4 and result.n_failed == 0
    return path


def test_the_file_reads_back_with_consistent_episodes_and_transitions(collected: Path) -> None:
    protocol = get_protocol(PROTOCOL)
    obs_dim, action_dim = environment_sizes(protocol)["hopper"]
    data = read_d4rl(collected, expected_obs_dim=obs_dim, expected_action_dim=action_dim, expected_for=PROTOCOL)
    table = data.episode_table
    episodes = list(data.episodes())
    assert len(episodes) == 4 and all(e.complete for e in episodes)
    assert [e.start for e in episodes] == table["start"].tolist()
    assert [len(e) for e in episodes] == table["length"].tolist() and sum(table["length"]) == len(data)
    assert all(len(e) <= 40 for e in episodes)
    for episode, expected in zip(episodes, table["return"], strict=True):
        assert episode.total_return == pytest.approx(expected, rel=1e-5, abs=1e-4)
        assert episode.next_observations is not None
        assert np.array_equal(episode.next_observations[:-1], episode.observations[1:])  # next_obs[t] == obs[t+1]
        assert episode.terminated or (episode.truncated and len(episode) == 40)
    assert np.all(np.abs(data.actions) <= 1.0)  # noisy actions are stored as executed: clipped to the bounds
    transitions = data.qlearning()
    assert len(transitions) == len(data) - int(data.timeouts.sum())
    assert np.array_equal(transitions.next_observations[:-1][~transitions.terminals[:-1]],
                          transitions.observations[1:][~transitions.terminals[:-1]])


def test_the_metadata_says_what_it_is_and_where_it_came_from(collected: Path) -> None:
    data = read_d4rl(collected)
    meta = data.metadata
    assert meta["kind"] == "collection" and meta["official"] is False
    assert "not an official evaluation" in meta["notice"]
    assert meta["protocol_id"] == PROTOCOL and meta["protocol_sha256"] == get_protocol(PROTOCOL).sha256()
    assert meta["collection_protocol_id"] == "d4rl/hopper-medium.collect@v1"
    assert meta["agent"] == "baseline:random" and meta["action_noise"] == pytest.approx(0.1)
    assert meta["harness_version"] and meta["episodes_per_task"] == 4 and meta["max_steps"] == 40
    details = meta["vla_bench"]["details"]
    assert details["agent"]["spec"] == "baseline:random"
    assert details["source_protocol"]["id"] == PROTOCOL
    assert details["collection_protocol"]["description"].startswith("DATA COLLECTION, NOT AN EVALUATION")
    derived = collection_protocol(get_protocol(PROTOCOL), 4, max_steps=40)
    assert details["collection_protocol"]["seed_base"] == derived.seed_base
    seeds = [episode_spec(derived, "hopper", i).seed for i in range(4)]
    assert data.episode_table["seed"].tolist() == seeds
    evaluation_seeds = {spec.seed for spec in full_plan(get_protocol(PROTOCOL))}
    assert not evaluation_seeds & set(seeds), "a dataset must not contain the evaluation's episodes"


def test_the_same_collection_with_more_workers_writes_the_same_arrays(collected: Path, tmp_path: Path) -> None:
    again = collect("baseline:random", PROTOCOL, tmp_path / "again.hdf5", episodes=4, max_steps=40, noise=0.1,
                    workers=2, envs_per_worker=1)
    first, second = read_d4rl(collected), read_d4rl(again.path)
    for key, array in first.arrays().items():
        assert np.array_equal(getattr(second, key), array), key


def test_the_collection_protocol() -> None:
    antmaze = get_protocol("d4rl/antmaze-umaze@v1")
    derived = collection_protocol(antmaze, 250, seed=3)
    assert derived.episodes_per_task == 250 > antmaze.episodes_per_task  # more episodes than the protocol's
    assert len(list(full_plan(derived))) == 250
    assert (derived.id, derived.seed_base, derived.max_steps) == ("d4rl/antmaze-umaze.collect@v1", 3, 700)
    assert derived.sha256() != antmaze.sha256()
    assert derived.tasks == antmaze.tasks and derived.success == antmaze.success
    with pytest.raises(UserError, match=r"state observations only.*'pixels'"):
        collection_protocol(get_protocol("mujoco/hopper-pixels@v1"), 2)
    with pytest.raises(UserError, match="already a collection protocol"):
        collection_protocol(derived, 2)
    with pytest.raises(UserError, match="has no task 'cheetah'"):
        collection_protocol(get_protocol("mujoco/locomotion@v1"), 2, tasks=["cheetah"])
    with pytest.raises(UserError, match="--max-steps must be between 1 and the protocol's 700"):
        collection_protocol(antmaze, 2, max_steps=701)


def test_refusals(collected: Path) -> None:
    with pytest.raises(UserError, match="already exists"):
        collect("baseline:random", PROTOCOL, collected, episodes=1)
    with pytest.raises(UserError, match="different sizes"):
        collect("baseline:zero", "mujoco/locomotion@v1", collected.with_name("mixed.hdf5"), episodes=1, max_steps=3)


def test_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "cli.hdf5"
    env = dict(os.environ, PYTHONPATH=str(TESTS), COLUMNS="200")
    run = subprocess.run([sys.executable, "-m", "vla_bench.cli", "collect", "--agent", "baseline:random",
                          "--protocol", "d4rl/maze2d-umaze@v1", "--episodes", "2", "--max-steps", "25",
                          "--noise", "0.2", "--out", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "not an evaluation" in run.stderr and "2 episodes, 50 steps" in run.stderr
    data = read_d4rl(out, expected_obs_dim=8, expected_action_dim=2)
    assert len(data) == 50 and data.timeouts.sum() == 2 and data.metadata["protocol_id"] == "d4rl/maze2d-umaze@v1"
    again = subprocess.run([sys.executable, "-m", "vla_bench.cli", "collect", "--agent", "baseline:random",
                            "--protocol", "d4rl/maze2d-umaze@v1", "--out", str(out)], capture_output=True, text=True,
                           timeout=300, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
