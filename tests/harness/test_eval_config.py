"""EvalConfig: the one declaration of the run options, validated where it is built (CLI, Python API, executors)."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, get_type_hints

import pytest

from vla_bench.harness.eval_config import EvalConfig, EvalOptions
from vla_bench.harness.executor_config import ExecutorConfig, ExecutorOptions
from vla_bench.spec.errors import UserError


@pytest.mark.parametrize(("options", "named"), [
    ({"workers": 0}, "--workers"),
    ({"workers": True}, "--workers"),  # a bool is not a worker count
    ({"envs_per_worker": 2.5}, "--envs-per-worker"),
    ({"limit_episodes": 0}, "--limit-episodes"),
    ({"record": -1}, "--record"),
    ({"policy_timeout": 0.0}, "--policy-timeout"),
    ({"policy_timeout": math.nan}, "--policy-timeout"),
    ({"env_timeout": math.inf}, "--env-timeout"),
    ({"action_noise": -0.1}, "--action-noise"),
    ({"executor": "slurm"}, "--executor"),
    ({"policy_placement": "gpu"}, "--policy-placement"),
    ({"ray_address": "auto"}, "--address"),  # only with the Ray executor
    ({"shard": (2, 2)}, "--shard"),
    ({"shard": (0, 0)}, "--shard"),
])
def test_each_invalid_option_is_named_with_its_value(options: dict[str, object], named: str) -> None:
    with pytest.raises(UserError, match=named) as caught:
        EvalConfig(**options)  # type: ignore[arg-type]
    assert repr(next(iter(options.values()))) in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(UserError) as caught:
        EvalConfig(workers=0, env_timeout=-1)
    assert "--workers" in str(caught.value) and "--env-timeout" in str(caught.value)


def test_valid_options_and_replace() -> None:
    config = EvalConfig(workers=2, policy_timeout=None, shard=(1, 3), executor="ray", ray_address="auto")
    assert config.replace(workers=4).workers == 4 and config.workers == 2  # frozen: a copy
    with pytest.raises(UserError, match="--workers"):
        config.replace(workers=-3)


def test_an_unknown_option_names_the_closest_one() -> None:
    with pytest.raises(UserError, match=r"unknown run option 'worker'.*did you mean 'workers'"):
        EvalConfig.from_options(worker=2)


def test_the_python_api_validates_its_keyword_options() -> None:
    from vla_bench import evaluate

    misspelt: dict[str, Any] = {"limit_episode": 1}  # an untyped caller's (mypy refuses it in typed code)
    with pytest.raises(UserError, match="did you mean 'limit_episodes'"):
        evaluate("baseline:zero", "mujoco/hopper@v1", **misspelt)
    with pytest.raises(UserError, match="--policy-timeout"):
        evaluate("baseline:zero", "mujoco/hopper@v1", policy_timeout=0)


def test_the_keyword_options_are_the_config_fields_with_their_types() -> None:
    fields = get_type_hints(EvalConfig)
    assert get_type_hints(EvalOptions) == fields and not EvalOptions.__required_keys__
    assert list(fields) == [field.name for field in dataclasses.fields(EvalConfig)]
    assert get_type_hints(ExecutorOptions) == get_type_hints(ExecutorConfig) and not ExecutorOptions.__required_keys__


def test_the_executor_config_extends_the_run_options() -> None:
    run = EvalConfig(workers=3, action_noise=0.2, policy_placement="central")
    config = ExecutorConfig.from_run(run, workers=1, isolated=True)
    assert isinstance(config, EvalConfig)
    assert (config.workers, config.action_noise, config.policy_placement, config.isolated) == (1, 0.2, "central", True)
    with pytest.raises(UserError, match="--envs-per-worker"):
        ExecutorConfig.from_run(run, envs_per_worker=0)


def test_the_eval_command_defaults_are_the_config_defaults() -> None:
    # the CLI declares its flags for typer's help; their defaults must not drift from EvalConfig's
    from vla_bench.cli.app import eval_command

    defaults = {field.name: field.default for field in dataclasses.fields(EvalConfig)}
    flags = {name: parameter.default for name, parameter in inspect.signature(eval_command).parameters.items()}
    renamed = {"address": "ray_address"}
    shared = {renamed.get(name, name): value for name, value in flags.items() if renamed.get(name, name) in defaults}
    assert set(shared) >= {"workers", "envs_per_worker", "limit_episodes", "resume", "record", "policy_timeout",
                           "env_timeout", "executor", "ray_address", "shard", "policy_placement"}
    for name, value in shared.items():
        assert value == defaults[name], name
