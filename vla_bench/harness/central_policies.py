"""Policies run in the orchestrator (central placement): remote ``ws://`` agents, shared objects, factories
not declared safe per process. One instance per episode slot, or one for all when the policy is batched;
calls go through a :class:`TimedCaller`, so that a hung call fails its episodes instead of the run.

Python cannot stop a stuck thread: a call that overruns is abandoned and keeps its thread until it returns.
A policy that can run elsewhere therefore runs in the env workers (``worker_policy.py``), where an overrun
ends the worker process with the call.
"""

from __future__ import annotations

import contextlib
import time

from vla_bench.agents.policy import LoadedAgent, Policy
from vla_bench.harness.episode import Episode
from vla_bench.harness.policy_calls import PolicyFault, PolicyRequest, TimedCaller, compute_actions
from vla_bench.spec.errors import describe_exception


class CentralPolicies:
    def __init__(self, agent: LoadedAgent, timeout: float | None) -> None:
        self.agent, self.timeout = agent, timeout
        self._caller = TimedCaller()
        self._shared: Policy | None = None
        self._per_slot: dict[tuple[int, int], Policy] = {}

    def policy_for(self, worker: int, slot: int) -> Policy:
        if self.agent.shared or self._shared is not None:
            if self._shared is None:
                self._shared = self.agent.factory()
            return self._shared
        key = (worker, slot)
        if key not in self._per_slot:
            policy = self.agent.factory()
            if callable(getattr(policy, "act_batch", None)):
                self._shared = policy  # a batched policy is stateless: one instance serves all
                return policy
            self._per_slot[key] = policy
        return self._per_slot[key]

    def forget(self, worker: int, slot: int) -> None:
        """The slot's policy state is unknown (its call hung, its worker died): the next episode gets a new one."""
        self._per_slot.pop((worker, slot), None)

    def reset(self, worker: int, slot: int, episode: Episode) -> tuple[str, str] | None:
        """Start the episode's policy; the error that fails the episode, if any."""
        started = time.perf_counter()
        try:
            policy = self.policy_for(worker, slot)
            task = episode.task
            self._caller.call(lambda: policy.reset(task), self.timeout)  # type: ignore[arg-type]
        except TimeoutError:
            self.forget(worker, slot)
            return ("policy_timeout", f"policy.reset took longer than the per-step limit of {self.timeout:g} s")
        except BaseException as exc:  # noqa: BLE001 - user code (SystemExit too): fails its episode only
            return ("policy_error", f"policy.reset raised {describe_exception(exc)}")
        finally:
            episode.policy_seconds += time.perf_counter() - started
        return None

    def act(self, worker: int, needing: list[tuple[int, Episode]]) -> list[tuple[str, str] | None]:
        """Give each episode its next chunk; per episode, the error that fails it, if any."""
        requests = [PolicyRequest(self.policy_for(worker, slot), ep.observation, ep.task.action_dim)  # type: ignore[arg-type,union-attr]
                    for slot, ep in needing]
        started = time.perf_counter()
        outcomes = compute_actions(requests, self._caller, self.timeout)
        share = (time.perf_counter() - started) / max(len(needing), 1)
        errors: list[tuple[str, str] | None] = []
        for (slot, episode), outcome in zip(needing, outcomes, strict=True):
            episode.policy_seconds += share
            if isinstance(outcome, PolicyFault):
                if outcome.kind == "policy_timeout":
                    self.forget(worker, slot)
                errors.append((outcome.kind, f"{outcome} (at step {episode.length})"))
            else:
                episode.add_chunk(outcome)
                errors.append(None)
        return errors

    def close(self) -> None:
        """Policies this run made with the agent's factory may hold connections (``ws://``): close() them."""
        if self.agent.shared:  # the user's own object: theirs to close
            return
        made = [*self._per_slot.values(), *([self._shared] if self._shared is not None else [])]
        self._per_slot.clear()
        self._shared = None
        for policy in made:
            close = getattr(policy, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
