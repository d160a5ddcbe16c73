"""The Python API: evaluate a policy under a protocol from your own code (e.g. during training)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vla_bench.agents.loaders import agent_from_object, load_agent
from vla_bench.agents.policy import TrainingRun
from vla_bench.harness.registry import get_protocol, load_protocol
from vla_bench.harness.runner import EvalResult, RunOptions, run_evaluation
from vla_bench.spec import Protocol

# The harness as trainers and other tools may use it (DESIGN.md: agents import only this module of it).
__all__ = ["EvalResult", "TrainingRun", "evaluate", "get_protocol", "load_protocol"]


def evaluate(
    policy: object,
    protocol: str | Protocol,
    *,
    out: str | Path | None = None,
    workers: int = 1,
    envs_per_worker: int = 8,
    limit_episodes: int | None = None,
    resume: bool = False,
    policy_timeout: float | None = 60.0,
    env_timeout: float = 300.0,
    record: int = 0,
    progress: bool = False,
    schedule_seed: int | None = None,
    policy_placement: str = "auto",
    training: TrainingRun | None = None,
) -> EvalResult:
    """Run ``policy`` under ``protocol`` and return its scores and per-episode records.

    ``policy`` is an ``--agent`` string, a policy object (``reset``/``act``), or a zero-argument factory of
    policies. With ``out`` the results bundle is written there (and ``resume`` finishes a killed run);
    without it nothing is written. ``limit_episodes`` (per task) makes the result unofficial.
    ``policy_placement`` (auto | worker | central): run the policy inside the env workers or in this process.
    ``training``: which training run (group and seed) of a method this policy is; the leaderboard scores runs of
    one group together.
    """
    resolved = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    agent = load_agent(policy) if isinstance(policy, str) else agent_from_object(policy)
    if training is not None:
        agent = dataclasses.replace(agent, training=training)
    options = RunOptions(workers=workers, envs_per_worker=envs_per_worker, limit_episodes=limit_episodes,
                         resume=resume, policy_timeout=policy_timeout, env_timeout=env_timeout, record=record,
                         progress=progress, schedule_seed=schedule_seed, policy_placement=policy_placement)
    return run_evaluation(resolved, agent, Path(out) if out is not None else None, options)
