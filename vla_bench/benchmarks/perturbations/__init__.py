"""The perturbation layer of robustness protocols (``vla_bench.spec.perturbation`` declares it).

Adapters call :func:`perturb` on the session they built: a task of a robustness protocol that carries a
perturbation gets a :class:`PerturbedSession` around it; every other task gets its session unchanged.
"""

from __future__ import annotations

from vla_bench.benchmarks.base import EnvSession
from vla_bench.benchmarks.perturbations.rng import perturbation_rng
from vla_bench.benchmarks.perturbations.session import INITIAL_STATE_FIELDS, PerturbedSession
from vla_bench.spec import Protocol, TaskDef
from vla_bench.spec.perturbation import PerturbationLevel


def task_level(protocol: Protocol, task: TaskDef) -> tuple[str, PerturbationLevel] | None:
    """(axis name, level) that ``task`` applies, or None for a clean task."""
    if task.perturbation is None or protocol.perturbation is None:
        return None
    axis = protocol.perturbation.axis(task.perturbation.axis)
    return axis.name, axis.level(task.perturbation.level)


def perturb(protocol: Protocol, task: TaskDef, session: EnvSession) -> EnvSession:
    found = task_level(protocol, task)
    if found is None:
        return session
    axis, level = found
    return PerturbedSession(session, level, axis, protocol.adapter)


__all__ = ["INITIAL_STATE_FIELDS", "PerturbedSession", "perturb", "perturbation_rng", "task_level"]
