"""check_session names each broken part of a session's contract (fake sessions, one fault each), and passes a
well-behaved one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult
from vla_bench.benchmarks.check import check_session
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec

PROTOCOL = Protocol.model_validate({
    "id": "fake/check@v1", "description": "check_session's test protocol", "episodes_per_task": 2,
    "adapter": "fake", "max_steps": 20, "primary_metric": "mean_return", "observation": {"mode": "state"},
    "success": {"kind": "none"}, "seed_base": 0,
    "tasks": [{"name": "t", "env_id": "fake"}],
})
EPISODES = (EpisodeSpec("t", 0, 0, seed=11), EpisodeSpec("t", 0, 1, seed=12))


class Session(EnvSession):
    """A well-behaved 3-D point: the state is the position, the action moves it; ``fault`` breaks one part."""

    def __init__(self, fault: str | None) -> None:
        self.fault = fault
        self.position = np.zeros(3, np.float32)
        self.resets = 0

    @property
    def task_spec(self) -> TaskSpec:
        high = (1.0, 1.0, np.inf if self.fault == "infinite box" else 1.0)
        return TaskSpec(name="t", instruction="", action_low=(-1.0, -1.0, -1.0), action_high=high,
                        max_steps=50 if self.fault == "step limit" else 20, observation_mode="state", state_dim=3)

    def reset(self, episode: EpisodeSpec) -> Observation:
        self.resets += 1
        seed = episode.seed + (self.resets if self.fault == "random reset" else 0)
        self.position = np.random.default_rng(seed).normal(size=3).astype(np.float32)
        return self._observation()

    def step(self, action: NDArray[np.float32]) -> StepResult:
        if self.fault == "raises at the bounds" and np.abs(action).max() >= 1.0:
            raise ValueError("action out of range")
        noise = np.random.default_rng().normal(size=3) if self.fault == "random step" else 0.0
        self.position = (self.position + 0.1 * action + noise).astype(np.float32)
        reward: Any = float("nan") if self.fault == "nan reward" else float(-np.abs(self.position).sum())
        info = {"handle": object()} if self.fault == "unsendable info" else {}
        return StepResult(self._observation(), reward, False, False, False, info)

    def _observation(self) -> Observation:
        if self.fault == "float64 state":
            return {"state": self.position.astype(np.float64)}
        if self.fault == "aliased":
            return {"state": self.position}  # the session's own buffer...
        return {"state": self.position.copy()}


class AliasingSession(Session):
    def step(self, action: NDArray[np.float32]) -> StepResult:
        np.add(self.position, 0.1 * action, out=self.position)  # ...updated in place
        return StepResult({"state": self.position}, 0.0, False, False, False, {})


class Adapter(BenchmarkAdapter):
    name = "fake"

    def __init__(self, fault: str | None) -> None:
        self.fault = fault

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return AliasingSession(self.fault) if self.fault == "aliased" else Session(self.fault)


def test_a_well_behaved_session_passes() -> None:
    check = check_session(Adapter(None), PROTOCOL, "t", EPISODES)
    assert check.ok and not check.warnings, check.lines()
    assert check.lines() == ["fake/check@v1 / t: ok"]


@pytest.mark.parametrize(("fault", "finding"), [
    ("infinite box", "task spec: the action box must be finite"),
    ("step limit", "task spec: max_steps 50, but the protocol says 20"),
    ("random reset", "reset determinism"),
    ("random step", "step determinism"),
    ("float64 state", "state must be finite float32 (it is float64)"),
    ("nan reward", "not a finite number"),
    ("unsendable info", "cannot be sent to the orchestrator"),
    ("raises at the bounds", "action bounds: a step with the action box's lower corner raised ValueError"),
    ("aliased", "observation aliasing"),
])
def test_each_broken_part_is_named(fault: str, finding: str) -> None:
    check = check_session(Adapter(fault), PROTOCOL, "t", EPISODES)
    assert not check.ok
    assert any(finding in problem for problem in check.problems), check.lines()


def test_a_fixed_initial_state_is_a_warning_and_a_crashing_session_a_problem() -> None:
    same = check_session(Adapter(None), PROTOCOL, "t", (EPISODES[0], EPISODES[0]))
    assert same.ok and any("seeding" in w for w in same.warnings)

    class Crashing(Adapter):
        def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
            session = Session(None)
            session.reset = lambda episode: (_ for _ in ()).throw(RuntimeError("no assets"))  # type: ignore[method-assign]
            return session

    crashed = check_session(Crashing(None), PROTOCOL, "t", EPISODES)
    assert len(crashed.problems) == 1 and crashed.problems[0].startswith("the session raised RuntimeError: no assets")
