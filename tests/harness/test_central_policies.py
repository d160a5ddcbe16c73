"""Central policies: what a policy raises fails its episode; Ctrl-C while the run waits for a call stops the run."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.central_policies import CentralPolicies
from vla_bench.harness.episode import Episode, EpisodeRules
from vla_bench.spec.episode import EpisodeSpec


class ResetPolicy:
    """reset() sleeps ``seconds``, then raises ``raises`` if set."""

    def __init__(self, seconds: float = 0.0, raises: BaseException | None = None) -> None:
        self.seconds, self.raises = seconds, raises

    def reset(self, task: object) -> None:
        time.sleep(self.seconds)
        if self.raises is not None:
            raise self.raises

    def act(self, observation: object) -> None:
        raise AssertionError("not called here")


def _policies(policy: ResetPolicy) -> CentralPolicies:
    return CentralPolicies(LoadedAgent(spec="test", kind="object", factory=lambda: policy), timeout=30.0)  # type: ignore[arg-type,return-value]


def _episode() -> Episode:
    episode = Episode(EpisodeSpec(task="t", task_index=0, episode_index=0, seed=0), EpisodeRules(10, False, False))
    episode.task = object()  # type: ignore[assignment]
    return episode


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), SystemExit(3), ValueError("bad")])
def test_whatever_reset_raises_fails_its_episode_only(raised: BaseException) -> None:
    error = _policies(ResetPolicy(raises=raised)).reset(0, 0, _episode())
    assert error is not None and error[0] == "policy_error" and type(raised).__name__ in error[1]


def test_ctrl_c_while_waiting_for_reset_stops_the_run() -> None:
    # The signal reaches the main thread while it waits for the policy thread: it is the user's, not the policy's.
    # Python's own Ctrl-C handler, whatever an earlier test left installed (an env worker ignores SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            _policies(ResetPolicy(seconds=3.0)).reset(0, 0, _episode())
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - started < 2.5, "the interrupt must not wait for the call to end"
