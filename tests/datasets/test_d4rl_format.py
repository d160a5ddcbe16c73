"""D4RL-format datasets: write/read round trip, episodes, qlearning transitions, and validation errors that
name what is wrong."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from vla_bench.datasets import DatasetError, OfflineDataset, qlearning_dataset, read_d4rl, write_d4rl

OBS, ACT = 4, 2


def synthetic(lengths: tuple[int, ...] = (5, 3, 4), ends: tuple[str, ...] = ("terminal", "timeout", "timeout"),
              seed: int = 0) -> OfflineDataset:
    """Episodes of a random walk: next_observations[t] == observations[t + 1] within an episode."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("observations", "next_observations", "actions",
                                                            "rewards", "terminals", "timeouts")}
    for length, end in zip(lengths, ends, strict=True):
        states = rng.normal(size=(length + 1, OBS)).astype(np.float32)
        columns["observations"].append(states[:-1])
        columns["next_observations"].append(states[1:])
        columns["actions"].append(rng.uniform(-1, 1, size=(length, ACT)).astype(np.float32))
        columns["rewards"].append(rng.normal(size=length).astype(np.float32))
        flags = np.zeros(length, dtype=bool)
        terminals, timeouts = flags.copy(), flags.copy()
        if end == "terminal":
            terminals[-1] = True
        elif end == "timeout":
            timeouts[-1] = True
        columns["terminals"].append(terminals)
        columns["timeouts"].append(timeouts)
    return OfflineDataset.from_arrays({k: np.concatenate(v) for k, v in columns.items()})


def test_write_then_read_round_trips_arrays_metadata_and_episode_table(tmp_path: Path) -> None:
    data = synthetic()
    path = tmp_path / "sub" / "data.hdf5"
    metadata = {"agent": "baseline:random", "official": False, "action_noise": 0.1, "seeds": [1, 2, 3],
                "details": {"nested": {"x": 1.5}, "nan": float("nan")}}
    table = {"task": np.array(["a", "a", "b"]), "seed": np.array([7, 8, 9])}
    write_d4rl(path, data, metadata=metadata, episode_table=table, step_infos={"episode": np.repeat([0, 1, 2],
                                                                                                     [5, 3, 4])})
    assert not list(tmp_path.rglob("*.partial"))
    back = read_d4rl(path, expected_obs_dim=OBS, expected_action_dim=ACT)
    for key, array in data.arrays().items():
        assert np.array_equal(getattr(back, key), array), key
        assert getattr(back, key).dtype == array.dtype
    assert back.terminals.dtype == np.bool_ and back.observations.dtype == np.float32
    assert back.metadata["vla_bench"]["details"] == {"nested": {"x": 1.5}, "nan": None}
    assert back.metadata["vla_bench"]["seeds"] == [1, 2, 3]
    assert back.metadata["agent"] == "baseline:random" and back.metadata["official"] is False  # plain attributes
    assert back.metadata["format"] == "d4rl"
    assert back.episode_table["task"].tolist() == ["a", "a", "b"]
    assert back.episode_table["seed"].tolist() == [7, 8, 9]
    with h5py.File(path) as handle:  # what other D4RL tools read: plain root datasets
        assert set(handle) >= {"observations", "actions", "rewards", "terminals", "timeouts", "next_observations"}


def test_episodes_split_on_terminals_or_timeouts() -> None:
    data = synthetic((5, 3, 4, 2), ("terminal", "timeout", "terminal", "none"))
    episodes = list(data.episodes())
    assert [(e.start, len(e)) for e in episodes] == [(0, 5), (5, 3), (8, 4), (12, 2)]
    assert [(e.terminated, e.truncated, e.complete) for e in episodes] == [
        (True, False, True), (False, True, True), (True, False, True), (False, False, False)]
    for episode in episodes:
        assert episode.next_observations is not None
        assert np.array_equal(episode.next_observations[:-1], episode.observations[1:])
    assert sum(e.total_return for e in episodes) == pytest.approx(float(data.rewards.sum()), abs=1e-4)


def test_qlearning_transitions_follow_d4rl() -> None:
    data = synthetic()  # 12 steps; rows 4 (terminal), 7 and 11 (timeouts) end episodes
    exact = qlearning_dataset(data)
    assert data.next_observations is not None  # synthetic() stores them
    # with stored next_observations: every row but the timeouts (D4RL drops them unless terminate_on_end)
    assert len(exact) == 10
    assert not exact.terminals[:4].any() and exact.terminals[4]
    assert np.array_equal(exact.next_observations, np.delete(data.next_observations, [7, 11], axis=0))
    assert len(qlearning_dataset(data, terminate_on_end=True)) == 12

    # a D4RL file without next_observations: obs[i + 1] is the next observation, the last row has none
    shifted = OfflineDataset.from_arrays({k: v for k, v in data.arrays().items() if k != "next_observations"})
    d4rl = qlearning_dataset(shifted)
    rows = [i for i in range(11) if i not in (7,)]
    assert len(d4rl) == len(rows)
    assert np.array_equal(d4rl.observations, data.observations[rows])
    assert np.array_equal(d4rl.next_observations, data.observations[np.array(rows) + 1])
    # within an episode the two agree: next_obs[t] == obs[t + 1]
    inside = [i for i in rows if not data.terminals[i]]
    assert np.array_equal(data.next_observations[inside], data.observations[np.array(inside) + 1])
    assert set(d4rl.as_dict()) == {"observations", "actions", "next_observations", "rewards", "terminals"}


# ------------------------------------------------------------------------------------------- validation
def broken_file(path: Path, **changes: object) -> Path:
    """A small D4RL file with ``changes`` applied: ``key=None`` deletes a key, an array replaces it."""
    arrays = dict(synthetic().arrays())
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value  # type: ignore[assignment]
    with h5py.File(path, "w") as handle:
        for key, array in arrays.items():
            handle.create_dataset(key, data=array)
    return path


def test_missing_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing 'rewards'.*'rewards' \[N\].*found: actions, next_observations"):
        read_d4rl(broken_file(tmp_path / "f.hdf5", rewards=None))


def test_length_mismatch_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"length mismatch: 'actions' has 11 rows but 'observations' has 12"):
        read_d4rl(broken_file(tmp_path / "f.hdf5", actions=np.zeros((11, ACT), np.float32)))


def test_nan_is_named_with_its_row(tmp_path: Path) -> None:
    observations = synthetic().observations.copy()
    observations[6, 2] = np.nan
    observations[9, 0] = np.inf
    with pytest.raises(DatasetError, match=r"'observations' holds 2 non-finite values \(NaN or inf\) in 2 rows, "
                                           r"the first at row 6"):
        read_d4rl(broken_file(tmp_path / "f.hdf5", observations=observations))


def test_wrong_observation_size_names_both_sizes(tmp_path: Path) -> None:
    path = broken_file(tmp_path / "f.hdf5")
    with pytest.raises(DatasetError, match=r"observations have 4 values per step but d4rl/hopper-medium@v1 "
                                           r"observes 11"):
        read_d4rl(path, expected_obs_dim=11, expected_for="d4rl/hopper-medium@v1")
    with pytest.raises(DatasetError, match=r"actions have 2 values per step but the environment takes 3"):
        read_d4rl(path, expected_action_dim=3)


def test_d4rl_ant_layout_gets_a_hint(tmp_path: Path) -> None:
    n = 12
    path = broken_file(tmp_path / "ant.hdf5", observations=np.zeros((n, 111), np.float32),
                       next_observations=np.zeros((n, 111), np.float32))
    with pytest.raises(DatasetError, match=r"111 values per step .* observes 27; .*keep observations\[:, :27\]"):
        read_d4rl(path, expected_obs_dim=27)


@pytest.mark.parametrize(("change", "message"), [
    ({"terminals": np.full(12, 2, np.int8)}, r"'terminals' must hold 0/1 flags, found 2 at row 0"),
    ({"observations": np.zeros(12, np.float32)}, r"'observations' has shape \(12,\); it must be 2-D"),
    ({"next_observations": np.zeros((12, 3), np.float32)}, r"'next_observations' has shape \(12, 3\) but "
                                                           r"'observations' has \(12, 4\)"),
    ({"rewards": np.zeros((12, 2), np.float32)}, r"'rewards' has shape \(12, 2\); it must be 1-D"),
    ({"observations": np.zeros((0, 4), np.float32)}, r"holds no steps"),
])
def test_other_structural_errors(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_d4rl(broken_file(tmp_path / "f.hdf5", **change))


def test_files_that_are_not_datasets(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_d4rl(tmp_path / "absent.hdf5")
    text = tmp_path / "text.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        read_d4rl(text)
    grouped = tmp_path / "grouped.hdf5"
    with h5py.File(grouped, "w") as handle:
        handle.create_group("observations")
    with pytest.raises(DatasetError, match="'observations' is a group; it must be an array"):
        read_d4rl(grouped)


def test_a_timeouts_free_d4rl_file_reads_with_no_timeouts(tmp_path: Path) -> None:
    data = read_d4rl(broken_file(tmp_path / "old.hdf5", timeouts=None, next_observations=None))
    assert not data.timeouts.any() and data.next_observations is None
    assert [len(e) for e in data.episodes()] == [5, 7]  # only the terminal splits


def test_the_writer_refuses_invalid_data(tmp_path: Path) -> None:
    data = synthetic()
    data.rewards[3] = np.nan
    with pytest.raises(DatasetError, match="'rewards' holds 1 non-finite"):
        write_d4rl(tmp_path / "bad.hdf5", data)
    assert not list(tmp_path.iterdir())
