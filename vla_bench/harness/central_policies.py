"""Policies run in the orchestrator (central placement): remote ``ws://`` agents, shared objects, factories
not declared safe per process. One instance per episode slot, or one for all when the policy is batched;
calls go through a :class:`TimedCaller`, so that a hung call fails its episodes instead of the run.

Python cannot stop a stuck thread: a call that overruns is abandoned and keeps its thread until it returns.
A policy that can run elsewhere therefore runs in the env workers (``worker_policy.py``), where an overrun
ends the worker process with the call, or, for a ``package.module:factory`` not declared safe per process, in
one policy process (``policy_process.py``) that is killed with a hung call; the episodes whose instances died
with it are handed back (:meth:`CentralPolicies.take_lost`) to run again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from vla_bench.agents.policy import LoadedAgent, Policy
from vla_bench.harness.episode import Episode
from vla_bench.harness.policy_calls import PolicyFault, PolicyRequest, TimedCaller, compute_actions
from vla_bench.harness.policy_process import PolicyProcess
from vla_bench.spec.errors import UserError, describe_exception


class CentralPolicies:
    def __init__(self, agent: LoadedAgent, timeout: float | None, process: PolicyProcess | None = None) -> None:
        self.agent, self.timeout, self.process = agent, timeout, process
        self._make: Callable[[], Policy] = process.make if process is not None else agent.factory
        self._caller = TimedCaller()
        self._shared: Policy | None = None
        self._per_slot: dict[tuple[int, int], Policy] = {}
        self._users: set[tuple[int, int]] = set()  # slots whose episodes use the shared instance
        self._generation = 0  # of the policy process the instances live in
        self._lost: list[tuple[int, int]] = []

    def policy_for(self, worker: int, slot: int) -> Policy:
        key = (worker, slot)
        if self.agent.shared or self._shared is not None:
            if self._shared is None:
                self._shared = self._make()
            self._users.add(key)
            return self._shared
        if key not in self._per_slot:
            policy = self._make()
            if callable(getattr(policy, "act_batch", None)):
                self._shared = policy  # a batched policy is stateless: one instance serves all
                self._users.add(key)
                return policy
            self._per_slot[key] = policy
        return self._per_slot[key]

    def forget(self, worker: int, slot: int) -> None:
        """The slot's policy state is unknown (its call hung, its worker died): the next episode gets a new one."""
        self._per_slot.pop((worker, slot), None)
        if self.process is not None:  # a hung call: the process dies with it, and every instance in it
            self._replaced()

    def _replaced(self) -> None:
        assert self.process is not None
        if self.process.generation == self._generation:
            self.process.stop()
        self._lost.extend([*self._per_slot, *self._users])
        self._per_slot.clear()
        self._users.clear()
        self._shared = None
        self._generation = self.process.generation

    def take_lost(self) -> list[tuple[int, int]]:
        """Slots whose episodes lost their policy instance through no fault of their own: run them again."""
        if self.process is not None and self.process.generation != self._generation:  # it crashed
            self._replaced()
        lost, self._lost = self._lost, []
        return lost

    def reset(self, worker: int, slot: int, episode: Episode) -> tuple[str, str] | None:
        """Start the episode's policy; the error that fails the episode, if any."""
        started = time.perf_counter()
        try:
            policy = self.policy_for(worker, slot)
            task = episode.task
            raised = self._caller.call(lambda: _raised_by(policy.reset, task), self.timeout)
        except TimeoutError:
            self.forget(worker, slot)
            return ("policy_timeout", f"policy.reset took longer than the per-step limit of {self.timeout:g} s")
        except UserError:
            raise  # the agent itself is wrong (a factory that makes no policy): every episode would fail alike
        except KeyboardInterrupt:
            raise  # Ctrl-C while this thread waits for the call: the user stops the run
        except BaseException as exc:  # noqa: BLE001 - the factory is user code (SystemExit too): fails its episode only
            return ("policy_error", f"policy.reset raised {describe_exception(exc)}")
        finally:
            episode.policy_seconds += time.perf_counter() - started
        if raised is not None:
            return ("policy_error", f"policy.reset raised {describe_exception(raised)}")
        return None

    def act(self, worker: int, needing: list[tuple[int, Episode]]) -> list[tuple[str, str] | None]:
        """Give each episode its next chunk; per episode, the error that fails it, if any."""
        requests = [PolicyRequest(self.policy_for(worker, slot), ep.observation, ep.task.action_dim)  # type: ignore[arg-type,union-attr]
                    for slot, ep in needing]
        started = time.perf_counter()
        outcomes = compute_actions(requests, self._caller, self.timeout,
                                   self.process.stop if self.process is not None else None)
        share = (time.perf_counter() - started) / max(len(needing), 1)
        errors: list[tuple[str, str] | None] = []
        for (slot, episode), outcome in zip(needing, outcomes, strict=True):
            episode.policy_seconds += share
            if isinstance(outcome, PolicyFault) and outcome.kind == "policy_lost":
                self._lost.append((worker, slot))
                errors.append(None)
            elif isinstance(outcome, PolicyFault):
                if outcome.kind == "policy_timeout":
                    self.forget(worker, slot)
                errors.append((outcome.kind, f"{outcome} (at step {episode.length})"))
            else:
                episode.add_chunk(outcome)
                errors.append(None)
        return errors

    def close(self) -> None:
        """Policies this run made with the agent's factory may hold connections (``ws://``): close() them."""
        self._caller.close()
        if self.agent.shared:  # the user's own object: theirs to close
            return
        if self.process is not None:
            self.process.stop()
        made = [*self._per_slot.values(), *([self._shared] if self._shared is not None else [])]
        self._per_slot.clear()
        self._shared = None
        for policy in made:
            close = getattr(policy, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


def _raised_by(function: Callable[..., object], *args: object) -> BaseException | None:
    """What ``function`` raised (KeyboardInterrupt and SystemExit included), as a value: an exception that
    reaches the waiting thread is then always the run's own (Ctrl-C), never the policy's."""
    try:
        function(*args)
    except BaseException as exc:  # noqa: BLE001 - user code
        return exc
    return None
