"""Trainers by name: every registered entry loads, names are normalized, a typo gets a suggestion."""

from __future__ import annotations

import pytest

from vla_bench.spec.errors import UserError
from vla_bench.training import OFFLINE, offline_algorithm, trainer_key
from vla_bench.training.algorithm import OfflineAlgorithm
from vla_bench.training.trainers import ONLINE, trainer_names, unknown_trainer


def test_every_offline_algorithm_loads_with_its_config() -> None:
    for name in OFFLINE:
        algorithm, config = offline_algorithm(name)
        assert issubclass(algorithm, OfflineAlgorithm) and algorithm.name == name
        assert config is algorithm.config_class and config.__name__.lower() == f"{name}config"
    assert offline_algorithm("TD3+BC")[0].name == "td3bc" and trainer_key("td3_bc") == "td3bc"


def test_every_online_trainer_is_a_train_function() -> None:
    assert trainer_names() == ["bc", "iql", "td3bc", "cql", "dt", "ppo", "sac", "dagger", "grpo", "gail"]
    for name in ONLINE:
        assert callable(ONLINE.get(name)) and ONLINE.get(name).__name__.startswith("train_")


def test_an_unknown_trainer_suggests_one() -> None:
    assert "Did you mean 'ppo'?" in str(unknown_trainer("pp0"))
    with pytest.raises(UserError, match=r"unknown trainer 'iqll'\. Did you mean 'iql'"):
        offline_algorithm("iqll")
