"""The Python API: evaluate a policy under a protocol from your own code (e.g. during training)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Unpack

from vla_bench.agents.loaders import agent_from_object, load_agent
from vla_bench.agents.policy import TrainingRun
from vla_bench.harness.eval_config import EvalConfig, EvalOptions
from vla_bench.harness.runner import EvalResult, run_evaluation
from vla_bench.protocols import get_protocol, load_protocol
from vla_bench.spec import Protocol

# The harness as trainers and other tools may use it (DESIGN.md: agents import only this module of it).
__all__ = ["EvalConfig", "EvalResult", "TrainingRun", "evaluate", "get_protocol", "load_protocol"]


def evaluate(
    policy: object,
    protocol: str | Protocol,
    *,
    out: str | Path | None = None,
    training: TrainingRun | None = None,
    config: EvalConfig | None = None,
    **options: Unpack[EvalOptions],
) -> EvalResult:
    """Run ``policy`` under ``protocol`` and return its scores and per-episode records.

    ``policy`` is an ``--agent`` string, a policy object (``reset``/``act``), or a zero-argument factory of
    policies. With ``out`` the results bundle is written there (and ``resume=True`` finishes a killed run);
    without it nothing is written. ``options`` are :class:`EvalConfig`'s run options, e.g. ``workers=2``,
    ``limit_episodes=5`` (per task; the result is then unofficial), ``policy_placement="worker"``; they override
    ``config`` (default: :class:`EvalConfig` without the progress bar) and are validated (an unknown or invalid
    one is a :class:`~vla_bench.spec.errors.UserError` naming it). ``training``: which training run (group and
    seed) of a method this policy is; the leaderboard scores runs of one group together.
    """
    run = EvalConfig.from_options(config or EvalConfig(progress=False), **options)
    resolved = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    agent = load_agent(policy) if isinstance(policy, str) else agent_from_object(policy)
    if training is not None:
        agent = dataclasses.replace(agent, training=training)
    return run_evaluation(resolved, agent, Path(out) if out is not None else None, run)
