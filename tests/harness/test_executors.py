"""Executors by name: the registry's entries load lazily, a typo gets a suggestion."""

from __future__ import annotations

import sys

import pytest

from vla_bench.agents.loaders import load_agent
from vla_bench.harness.executors import EXECUTORS, ExecutorConfig, make_executor
from vla_bench.harness.local_executor import LocalExecutor
from vla_bench.protocols import get_protocol
from vla_bench.spec.errors import UserError


def test_executors_are_listed_without_importing_ray() -> None:
    assert EXECUTORS.names() == ["local", "ray"] and "ray" in EXECUTORS
    assert EXECUTORS.target("ray") == "vla_bench.harness.ray_executor:RayExecutor"
    if "ray" not in sys.modules:  # nothing earlier in this process imported it: listing did not either
        list(EXECUTORS)
        assert "ray" not in sys.modules


def test_make_executor_builds_the_named_class_and_names_a_typo() -> None:
    protocol, agent = get_protocol("mujoco/hopper@v1"), load_agent("baseline:zero")
    executor = make_executor("local", protocol, agent, ExecutorConfig(workers=1), ray_address=None)
    assert isinstance(executor, LocalExecutor)  # built, not run: no worker starts
    with pytest.raises(UserError, match=r"unknown executor 'lokal'\. Did you mean 'local'\?"):
        make_executor("lokal", protocol, agent, ExecutorConfig(workers=1))
