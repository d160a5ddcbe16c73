"""``check_session``: does a benchmark session keep the contract the harness relies on?

In the spirit of Gymnasium's ``check_env``, for any adapter: the task spec (a finite, non-empty action box; the
protocol's step limit and observation mode), the observation (the keys its mode promises, with their dtypes
and shapes, finite numbers), reset determinism (one planned episode twice gives the same first observation),
step determinism (the same actions after the same reset give the same observations and rewards), seeding
(another planned episode starts elsewhere: a warning only, since some benchmarks fix their initial states),
action bounds (the box's corners are accepted) and step results (finite rewards, flags as booleans, an
``info`` the worker can send). Each failed check is one line naming it, so an adapter's author sees every
problem at once.

``python -m vla_bench.harness.session_check PROTOCOL [--task NAME]`` runs it on a protocol's first planned
episodes, in any interpreter that has the benchmark (e.g. a runtime's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult
from vla_bench.spec import EpisodeSpec, Protocol, TaskSpec
from vla_bench.spec.errors import describe_exception
from vla_bench.spec.wire import WireError, packb

STEPS = 10  # steps of each determinism rollout


@dataclass
class SessionCheck:
    protocol: str
    task: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = f"{self.protocol} / {self.task}: " + ("ok" if self.ok else f"{len(self.problems)} problem(s)")
        return [head, *(f"  problem: {p}" for p in self.problems), *(f"  warning: {w}" for w in self.warnings)]


def check_session(adapter: BenchmarkAdapter, protocol: Protocol, task_name: str, episodes: tuple[EpisodeSpec, ...],
                  *, steps: int = STEPS) -> SessionCheck:
    """Check one task's session with two planned episodes of it (``episodes``: the first two of the plan)."""
    check = SessionCheck(protocol.id, task_name)
    session = adapter.make_session(protocol, protocol.task(task_name))
    try:
        _check_all(session, protocol, episodes, steps, check)
    except Exception as exc:  # noqa: BLE001 - a session that raises is the finding, not a crash of the check
        check.problems.append(f"the session raised {describe_exception(exc)}")
    finally:
        session.close()
    return check


def _check_all(session: EnvSession, protocol: Protocol, episodes: tuple[EpisodeSpec, ...], steps: int,
               check: SessionCheck) -> None:
    first = _copy(session.reset(episodes[0]))
    spec = session.task_spec
    check.problems += _task_spec_problems(spec, protocol)
    check.problems += _observation_problems(first, spec, "the first observation")
    again = _copy(session.reset(episodes[0]))
    if not _same(first, again):
        check.problems.append(f"reset determinism: resetting episode {episodes[0].episode_index} twice gave different "
                              "first observations")
    again = session.reset(episodes[0])  # not copied: a session that reuses one buffer is caught here
    following = session.step(_actions(spec, 1, episodes[0].seed)[0]).observation
    if _shared(again, following):
        check.problems.append("observation aliasing: the observation after a step shares memory with the one before "
                              "(a policy that keeps past observations would see them change): return copies")
    actions = _actions(spec, steps, episodes[0].seed)
    runs = [_rollout(session, episodes[0], actions, check) for _ in range(2)]
    if runs[0] is not None and runs[1] is not None and not _same(runs[0], runs[1]):
        check.problems.append(f"step determinism: the same {len(actions)} actions after the same reset gave different "
                              "observations or rewards")
    if len(episodes) > 1:
        other = _copy(session.reset(episodes[1]))
        if _same(first, other):
            check.warnings.append(f"seeding: episodes {episodes[0].episode_index} and {episodes[1].episode_index} "
                                  "start from the same observation (fine if the benchmark fixes its initial states)")
    session.reset(episodes[0])
    low, high = np.asarray(spec.action_low, np.float32), np.asarray(spec.action_high, np.float32)
    for name, corner in (("the action box's lower corner", low), ("its upper corner", high)):
        try:
            check.problems += _step_problems(session.step(corner), spec, f"a step with {name}")
        except Exception as exc:  # noqa: BLE001 - named as the finding
            check.problems.append(f"action bounds: a step with {name} raised {describe_exception(exc)}")
            break


def _task_spec_problems(spec: TaskSpec, protocol: Protocol) -> list[str]:
    problems = []
    low, high = np.asarray(spec.action_low, np.float64), np.asarray(spec.action_high, np.float64)
    if low.ndim != 1 or low.shape != high.shape or low.size == 0:
        problems.append(f"task spec: action_low {low.shape} and action_high {high.shape} must be vectors of one "
                        "non-zero length")
    elif not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
        problems.append("task spec: the action box must be finite with action_low < action_high in every dimension")
    if spec.max_steps != protocol.max_steps:
        problems.append(f"task spec: max_steps {spec.max_steps}, but the protocol says {protocol.max_steps}")
    if spec.observation_mode != protocol.observation.mode:
        problems.append(f"task spec: observation_mode {spec.observation_mode!r}, but the protocol says "
                        f"{protocol.observation.mode!r}")
    return problems


def _observation_problems(observation: object, spec: TaskSpec, what: str) -> list[str]:
    if not isinstance(observation, dict):
        return [f"observation: {what} is a {type(observation).__name__}, not a dict"]
    problems = []
    if spec.state_dim is not None:
        state = observation.get("state")
        if not isinstance(state, np.ndarray) or state.shape != (spec.state_dim,):
            shape = getattr(state, "shape", type(state).__name__)
            problems.append(f"observation: {what}'s state is {shape}, expected a vector of state_dim {spec.state_dim}")
        elif state.dtype != np.float32 or not np.isfinite(state).all():
            problems.append(f"observation: {what}'s state must be finite float32 (it is {state.dtype})")
    images = observation.get("images", {})
    for camera in spec.cameras:
        image = images.get(camera) if isinstance(images, dict) else None
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            problems.append(f"observation: {what} has no uint8 [H, W, 3] image of camera {camera!r} (got {shape})")
    if "instruction" in observation and not isinstance(observation["instruction"], str):
        problems.append(f"observation: {what}'s instruction is not a string")
    return problems


def _step_problems(result: StepResult, spec: TaskSpec, what: str) -> list[str]:
    problems = _observation_problems(result.observation, spec, f"the observation after {what}")
    if not isinstance(result.reward, (int, float, np.floating)) or not math.isfinite(float(result.reward)):
        problems.append(f"step result: the reward of {what} is {result.reward!r}, not a finite number")
    for name in ("terminated", "truncated", "success"):
        if not isinstance(getattr(result, name), (bool, np.bool_)):
            problems.append(f"step result: {name} of {what} is {type(getattr(result, name)).__name__}, not a bool")
    try:
        packb(result.info)
    except (WireError, TypeError, ValueError) as exc:
        problems.append(f"step result: the info of {what} cannot be sent to the orchestrator: {exc}")
    return problems


def _actions(spec: TaskSpec, steps: int, seed: int) -> list[NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    low, high = np.asarray(spec.action_low, np.float32), np.asarray(spec.action_high, np.float32)
    return [rng.uniform(low, high).astype(np.float32) for _ in range(steps)]


def _rollout(session: EnvSession, episode: EpisodeSpec, actions: list[NDArray[np.float32]],
             check: SessionCheck) -> list[object] | None:
    trace: list[object] = [_copy(session.reset(episode))]
    for index, action in enumerate(actions):
        try:
            result = session.step(action)
        except Exception as exc:  # noqa: BLE001 - named as the finding
            check.problems.append(f"steps: step {index + 1} of an in-bounds rollout raised {describe_exception(exc)}")
            return None
        trace += [_copy(result.observation), float(result.reward)]
        if result.terminated or result.truncated:
            break
    return trace


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value.copy() if isinstance(value, np.ndarray) else value


def _arrays(value: object) -> list[NDArray[np.generic]]:
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v)]
    return [value] if isinstance(value, np.ndarray) else []


def _shared(a: object, b: object) -> bool:
    return any(np.shares_memory(x, y) for x in _arrays(a) for y in _arrays(b))


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)
