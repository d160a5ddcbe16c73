"""Policy calls: the time limit, what an abandoned call may still do, and faults as outcomes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vla_bench.harness.policy_calls import (
    PolicyFault,
    PolicyLost,
    PolicyRequest,
    RemoteCallError,
    TimedCaller,
    call_directly,
    compute_actions,
)


class Scripted:
    """act() sleeps ``delays[i]`` seconds on its i-th call, then returns [i, i]; ``raises`` instead raises it."""

    def __init__(self, delays: list[float] | None = None, raises: BaseException | None = None) -> None:
        self.delays, self.raises, self.calls = delays or [], raises, 0

    def reset(self, task: object) -> None:
        pass

    def act(self, observation: object) -> np.ndarray:
        index = self.calls
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        if index < len(self.delays):
            time.sleep(self.delays[index])
        return np.array([index, index], np.float32)


class Batched(Scripted):
    def act_batch(self, observations: list[object]) -> np.ndarray:
        return np.stack([self.act(o) for o in observations])


def _request(policy: object) -> PolicyRequest:
    return PolicyRequest(policy, {"state": np.zeros(1, np.float32)}, 2)  # type: ignore[arg-type]


def test_a_call_within_the_limit_returns_and_reuses_the_thread() -> None:
    caller = TimedCaller()
    assert caller.call(lambda: 41 + 1, 1.0) == 42
    first = caller._requests
    assert caller.call(lambda: threading.current_thread().name, 1.0) == "vla-bench-policy"
    assert caller._requests is first


def test_an_overrunning_call_is_abandoned_and_the_next_call_gets_a_fresh_thread() -> None:
    caller = TimedCaller()
    release = threading.Event()
    with pytest.raises(TimeoutError):
        caller.call(release.wait, 0.05)
    assert caller._requests is None  # the stuck thread is dropped
    assert caller.call(lambda: "fresh", 1.0) == "fresh"
    release.set()


def test_exceptions_of_any_kind_come_back_to_the_caller() -> None:
    caller = TimedCaller()
    with pytest.raises(SystemExit):
        caller.call(lambda: (_ for _ in ()).throw(SystemExit(3)), 1.0)
    assert caller.call(lambda: 1, 1.0) == 1  # the thread survived


def test_a_hung_call_fails_its_own_episodes_and_later_calls_still_run() -> None:
    first, hung, third = Scripted([0.0]), Scripted([5.0]), Scripted([0.0])
    # the first answers at once, the second hangs, the third is run again on a fresh thread
    outcomes = compute_actions([_request(first), _request(hung), _request(third)], TimedCaller(), 0.2)
    assert [o.tolist() for o in outcomes[0]] == [[0.0, 0.0]]  # type: ignore[union-attr]
    assert isinstance(outcomes[1], PolicyFault) and outcomes[1].kind == "policy_timeout"
    assert "per-step limit of 0.2 s" in str(outcomes[1])
    assert not isinstance(outcomes[2], PolicyFault)


def test_late_results_of_an_abandoned_call_are_not_used() -> None:
    first, second = Scripted([0.3]), Scripted([0.0])
    outcomes = compute_actions([_request(first), _request(second)], TimedCaller(), 0.1)
    assert isinstance(outcomes[0], PolicyFault)
    time.sleep(0.4)  # the abandoned thread finishes its call and would run the second group: cancelled
    assert second.calls == 1  # only the fresh thread's call


def test_a_call_slower_than_the_limit_that_still_returns_counts_as_a_timeout() -> None:
    policy = Scripted([0.15])
    (outcome,) = compute_actions([_request(policy)], TimedCaller(), 0.1)
    assert isinstance(outcome, PolicyFault) and outcome.kind == "policy_timeout"


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), MemoryError(), ValueError("bad")])
def test_whatever_a_policy_raises_is_a_fault_of_its_episode(raised: BaseException) -> None:
    for outcomes in (compute_actions([_request(Scripted(raises=raised))], TimedCaller(), 1.0),
                     call_directly([_request(Scripted(raises=raised))])):
        assert isinstance(outcomes[0], PolicyFault) and outcomes[0].kind == "policy_error"
        assert type(raised).__name__ in str(outcomes[0])


def test_one_batched_instance_is_called_once_for_all_its_requests() -> None:
    shared = Batched()
    told: list[list[int]] = []
    outcomes = call_directly([_request(shared), _request(Scripted()), _request(shared)], before=told.append)
    assert told == [[0, 2], [1]] and shared.calls == 2
    assert all(not isinstance(o, PolicyFault) for o in outcomes)


def test_on_timeout_runs_before_the_calls_after_a_hung_one_and_lost_instances_are_not_faults_of_theirs() -> None:
    events: list[str] = []

    class Lost(Scripted):
        def act(self, observation: object) -> np.ndarray:
            events.append("lost")
            raise PolicyLost("its policy process was replaced")

    outcomes = compute_actions([_request(Scripted([5.0])), _request(Lost())], TimedCaller(), 0.1,
                               on_timeout=lambda: events.append("killed"))
    assert events == ["killed", "lost"]
    assert isinstance(outcomes[0], PolicyFault) and outcomes[0].kind == "policy_timeout"
    assert isinstance(outcomes[1], PolicyFault) and outcomes[1].kind == "policy_lost"
    (remote,) = call_directly([_request(Scripted(raises=RemoteCallError("ValueError: bad (at p.py:3)")))])
    assert str(remote) == "policy raised ValueError: bad (at p.py:3)"  # described once, where it was raised
