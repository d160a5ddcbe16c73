"""Local Minari datasets, created in the test with minari's own API (``create_dataset_from_buffers``, which
needs no jax, unlike ``DataCollector``), read into the D4RL layout by path or by id - never downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_bench.datasets import DatasetError, minari_dataset_path, read_minari

minari = pytest.importorskip("minari")
gym = pytest.importorskip("gymnasium")
from minari.data_collector.episode_buffer import EpisodeBuffer  # noqa: E402

LENGTHS = (6, 4, 5)
# minari warns about the missing env spec / eval env of these synthetic datasets
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def goal_space() -> object:
    box = gym.spaces.Box
    return gym.spaces.Dict({"observation": box(-np.inf, np.inf, (4,), np.float64),
                            "achieved_goal": box(-np.inf, np.inf, (2,), np.float64),
                            "desired_goal": box(-np.inf, np.inf, (2,), np.float64)})


def buffers(dict_obs: bool, rng: np.random.Generator) -> list[EpisodeBuffer]:
    episodes = []
    for index, steps in enumerate(LENGTHS):
        if dict_obs:
            state = rng.normal(size=(steps + 1, 4))
            observations: object = {"observation": state, "achieved_goal": state[:, :2].copy(),
                                    "desired_goal": np.repeat(rng.normal(size=(1, 2)), steps + 1, axis=0)}
        else:
            observations = rng.normal(size=(steps + 1, 3))
        terminations = [False] * steps
        truncations = [False] * steps
        if index == 0:
            terminations[-1] = True
        elif index == 1:
            truncations[-1] = True  # episode 2 ends with neither flag (Minari allows it)
        episodes.append(EpisodeBuffer(id=index, seed=index, observations=observations,
                                      actions=rng.uniform(-1, 1, size=(steps, 2)).astype(np.float32),
                                      rewards=list(rng.normal(size=steps)), terminations=terminations,
                                      truncations=truncations, infos={}))
    return episodes


def make_dataset(dataset_id: str, dict_obs: bool) -> list[EpisodeBuffer]:
    episodes = buffers(dict_obs, np.random.default_rng(0))
    observation_space = goal_space() if dict_obs else gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    minari.create_dataset_from_buffers(
        dataset_id, episodes, observation_space=observation_space,
        action_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32), algorithm_name="random", author="vla-bench tests",
        author_email="tests@example.org", code_permalink="tests/datasets/test_minari.py", description="test data")
    return episodes


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def test_a_goal_conditioned_dataset_reads_by_id_and_by_path(minari_root: Path) -> None:
    episodes = make_dataset("vlab/pointmaze/tiny-v0", dict_obs=True)
    data = read_minari("vlab/pointmaze/tiny-v0", expected_obs_dim=8, expected_action_dim=2)
    assert len(data) == sum(LENGTHS) and data.obs_dim == 8 and data.action_dim == 2
    assert data.metadata["minari"]["dataset_id"] == "vlab/pointmaze/tiny-v0"
    start = 0
    for episode, read in zip(episodes, data.episodes(), strict=True):
        obs = episode.observations
        flat = np.concatenate([obs["observation"], obs["achieved_goal"], obs["desired_goal"]], axis=1)  # the order
        steps = len(episode.rewards)
        assert read.start == start and len(read) == steps
        np.testing.assert_allclose(read.observations, flat[:-1], rtol=1e-6)
        assert read.next_observations is not None
        np.testing.assert_allclose(read.next_observations, flat[1:], rtol=1e-6)
        np.testing.assert_allclose(read.actions, episode.actions)
        np.testing.assert_allclose(read.rewards, np.asarray(episode.rewards, np.float32))
        start += steps
    flags = [(e.terminated, e.truncated) for e in data.episodes()]
    assert flags == [(True, False), (False, True), (False, True)]  # the flagless end became a timeout
    transitions = data.qlearning(terminate_on_end=True)
    assert len(transitions) == sum(LENGTHS)

    directory = minari_root / "vlab" / "pointmaze" / "tiny-v0"
    for form in (directory, directory / "data", directory / "data" / "main_data.hdf5"):
        assert minari_dataset_path(form) == directory / "data"
        assert np.array_equal(read_minari(form).observations, data.observations)


def test_a_flat_dataset_and_a_wrong_size(minari_root: Path) -> None:
    make_dataset("vlab/flat-v0", dict_obs=False)
    data = read_minari("vlab/flat-v0")
    assert data.obs_dim == 3 and len(data) == sum(LENGTHS)
    with pytest.raises(DatasetError, match=r"observations have 3 values per step but d4rl/hopper-medium@v1 "
                                           r"observes 11"):
        read_minari("vlab/flat-v0", expected_obs_dim=11, expected_for="d4rl/hopper-medium@v1")


def test_absent_datasets_are_not_downloaded(minari_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"'D4RL/door/human-v2' not found.*never downloads"):
        read_minari("D4RL/door/human-v2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a Minari dataset"):
        read_minari(tmp_path / "empty")
