"""A central policy in a child process: a Python factory the env workers may not build (it did not declare
itself safe per process) still runs outside the orchestrator, so that whatever it does - ``os._exit``, a
segfault, a call that spins past the time limit - ends only this process.

One process holds every instance the run makes (one per episode slot, or one batched instance), as the
orchestrator would. When a call overruns, the process is killed (its thread burns no core after that);
when it dies, the episode whose call it was fails with the reason. Either way the other instances are gone
with it: their episodes are run again from the start on a fresh process (:class:`PolicyLost`), which gives the
same records, the policy being deterministic. Messages: ``PolicyCall``/``PolicyAnswer`` (``spec/messages.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vla_bench.harness.framing import PeerClosed, recv_message, send_message
from vla_bench.harness.policy_calls import PolicyLost, RemoteCallError
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError, describe_exception
from vla_bench.spec.messages import PolicyAnswer, PolicyCall
from vla_bench.spec.wire import WireError

if TYPE_CHECKING:
    from vla_bench.agents.policy import Policy


class PolicyProcess:
    """The child process, started on first use and again after it is stopped (``generation`` counts them)."""

    def __init__(self, spec: str, sys_path: list[str]) -> None:
        self.spec, self.sys_path = spec, sys_path
        self.generation = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._handles = 0

    def _ensure(self) -> socket.socket:
        if self._sock is None:
            parent, child = socket.socketpair()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vla_bench.harness.policy_process", "--fd", str(child.fileno())],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
            child.close()
            self._sock = parent
            self._exchange(PolicyCall("load", spec=self.spec, sys_path=self.sys_path), self.generation)
        return self._sock

    def _exchange(self, call: PolicyCall, generation: int) -> Any:
        if generation != self.generation:
            raise PolicyLost("its policy process was replaced")
        sock = self._ensure()
        try:
            send_message(sock, call)
            answer = recv_message(sock)
        except (OSError, ConnectionError, ValueError):
            reason = self._status()
            if generation == self.generation:  # not already replaced by a timeout on another thread
                self.stop()
            raise RemoteCallError(f"the policy process died ({reason})") from None
        if not isinstance(answer, PolicyAnswer):
            raise RemoteCallError(f"the policy process answered {type(answer).__name__}")
        if answer.error is not None:
            raise RemoteCallError(answer.error)
        return answer.value

    def _status(self) -> str:
        process = self._process
        if process is None:
            return "stopped"
        try:
            code = process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "closed its connection"
        return f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"

    def make(self) -> ProcessPolicy:
        """A new instance in the process (the agent's factory, run there)."""
        self._handles += 1
        generation = self.generation
        try:
            batched = bool(self._exchange(PolicyCall("make", self._handles), generation))
        except RemoteCallError as exc:
            if str(exc).startswith("UserError: "):  # the factory made no policy: the agent is wrong, not an episode
                raise UserError(str(exc).removeprefix("UserError: ")) from None
            raise
        kind = BatchedProcessPolicy if batched else ProcessPolicy
        return kind(self, self._handles, generation)

    def stop(self) -> None:
        """Kill the process (a hung call dies with it); the next call starts a fresh one."""
        self.generation += 1
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._sock is not None:
            self._sock.close()
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        self._process, self._sock = None, None


class ProcessPolicy:
    """An instance living in the policy process."""

    def __init__(self, process: PolicyProcess, handle: int, generation: int) -> None:
        self._process, self._handle, self.generation = process, handle, generation

    def reset(self, task: TaskSpec) -> None:
        self._process._exchange(PolicyCall("reset", self._handle, task=task), self.generation)

    def act(self, observation: Observation) -> Any:
        return self._process._exchange(PolicyCall("act", self._handle, observations=[observation]),
                                       self.generation)


class BatchedProcessPolicy(ProcessPolicy):
    def act_batch(self, observations: Sequence[Observation]) -> Any:
        return self._process._exchange(PolicyCall("act_batch", self._handle,
                                                  observations=list(observations)), self.generation)


# ------------------------------------------------------------------------------------------ the child
def serve(sock: socket.socket) -> None:
    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415 - after sys.path is set
    from vla_bench.agents.policy import is_batched  # noqa: PLC0415

    factory: Callable[[], Policy] | None = None
    instances: dict[int, Policy] = {}
    while True:
        try:
            call = recv_message(sock)
        except PeerClosed:
            return
        if not isinstance(call, PolicyCall):
            return
        value: object = None
        try:
            if call.op == "load":
                sys.path[:0] = [p for p in call.sys_path if p not in sys.path]
                factory = load_agent(str(call.spec)).factory
            elif call.op == "make":
                if factory is None:
                    raise RuntimeError("make before load")
                instances[call.handle] = factory()
                value = is_batched(instances[call.handle])
            elif call.op == "reset":
                if call.task is None:
                    raise ValueError("reset without a task")
                instances[call.handle].reset(call.task)
            elif call.op == "act":
                value = instances[call.handle].act(call.observations[0])
            else:
                policy = instances[call.handle]
                if not is_batched(policy):
                    raise AttributeError(f"{type(policy).__name__!r} object has no attribute 'act_batch'")
                value = policy.act_batch(call.observations)
            answer = PolicyAnswer(value)
        except BaseException as exc:  # noqa: BLE001 - user code: described, and the process lives on
            answer = PolicyAnswer(error=describe_exception(exc))
        try:
            send_message(sock, answer)
        except WireError as exc:
            send_message(sock, PolicyAnswer(error=f"the policy returned something that cannot be sent: {exc}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    sock = socket.socket(fileno=args.fd)
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    from vla_bench.threads import limit_math_threads

    limit_math_threads()
    main()
