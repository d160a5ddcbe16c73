"""The env worker process: hosts environment sessions and steps them on the orchestrator's request.

Started as ``python -m vla_bench.harness.env_worker --fd N`` with one end of a socket pair, possibly in a
benchmark's own interpreter (``vla_bench.runtimes``). The messages are typed (``spec/messages.py``): the
orchestrator's :class:`Hello` is answered by :class:`Ready` (the worker's identity, ``handshake.py``, and ``ok``
or the reason it cannot serve), then every :class:`Batch` by one :class:`Reply`, one result per item.

With the policy placed in the worker (``Hello.agent``), the worker loads the agent itself and runs whole
episodes (``RunItem``) batched over its slots (``worker_policy.py``): no message per step. Otherwise it
resets and steps the sessions the orchestrator names. An exception inside an environment fails only that
item (the session is discarded, its state being unknown); the worker itself lives on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession
from vla_bench.harness.framing import PeerClosed, recv_message, send_message
from vla_bench.harness.handshake import identity, mismatch
from vla_bench.spec import EpisodeSpec, Protocol
from vla_bench.spec.errors import describe_exception
from vla_bench.spec.messages import (
    ActionItem,
    Batch,
    Close,
    Ended,
    Hello,
    Item,
    ItemError,
    Ready,
    Reply,
    ResetItem,
    ResetResult,
    Result,
    RunItem,
    StepResult,
)

if TYPE_CHECKING:
    from imageio.core.format import Format


@dataclass
class _Slot:
    session: EnvSession | None = None
    task: str | None = None
    render: bool = False
    writer: Format.Writer | None = None  # imageio writer while this slot's episode is being recorded


class EnvWorker:
    """The worker's environment logic, independent of the transport (unit-testable in-process)."""

    def __init__(self, protocol: Protocol, adapter: BenchmarkAdapter) -> None:
        self.protocol = protocol
        self.adapter = adapter
        self.slots: dict[int, _Slot] = {}
        self._first_step_at: float | None = None  # wall clock of this worker's first env step, until reported
        self._first_step_reported = False

    def take_first_step_at(self) -> float | None:
        """When this worker's first env step ended (epoch seconds), once: the run's start-up time is measured
        to it (``summary.json`` ``run.timings.first_step_s``)."""
        if self._first_step_reported or self._first_step_at is None:
            return None
        self._first_step_reported = True
        return self._first_step_at

    def handle(self, items: list[Item]) -> list[Result]:
        return [self.handle_item(item) for item in items]

    def handle_item(self, item: Item) -> Result:
        slot = self.slots.setdefault(item.slot, _Slot())
        try:
            if isinstance(item, ActionItem):
                return self.step(item.slot, item.action)
            if isinstance(item, ResetItem):
                return self.reset(item.slot, item.episode, item.record)
            if isinstance(item, RunItem):
                raise RuntimeError("this worker was not given a policy to run episodes with")
            self._finish_recording(slot)
            return Ended(item.slot)
        except Exception as exc:  # noqa: BLE001 - an environment fault fails this item only
            self.discard(item.slot)
            return ItemError(item.slot, describe_exception(exc), "env_error")

    def reset(self, slot_id: int, spec: EpisodeSpec, record: str | None) -> ResetResult:
        slot = self.slots.setdefault(slot_id, _Slot())
        self._finish_recording(slot)
        render = record is not None
        if slot.session is None or slot.task != spec.task or slot.render != render:
            self.discard(slot_id)
            slot.session = self.adapter.make_session(self.protocol, self.protocol.task(spec.task), render=render)
            slot.task, slot.render = spec.task, render
        observation = slot.session.reset(spec)
        if record is not None:
            fps = slot.session.frames_per_second or self.protocol.control_hz or 30.0
            slot.writer = _open_video(Path(record), fps)
            self._write_frame(slot)
        return ResetResult(slot_id, observation, slot.session.task_spec)

    def step(self, slot_id: int, action: NDArray[np.float32]) -> StepResult:
        slot = self.slots[slot_id]
        if slot.session is None:
            raise RuntimeError("step before reset")
        result = slot.session.step(np.asarray(action, dtype=np.float32))
        if self._first_step_at is None:
            self._first_step_at = time.time()
        self._write_frame(slot)
        return StepResult(slot_id, result.observation, float(result.reward), bool(result.terminated),
                          bool(result.truncated), bool(result.success), result.info)

    def end(self, slot_id: int) -> None:
        """The slot's episode is over: close its video (the session stays for the next episode)."""
        self._finish_recording(self.slots.setdefault(slot_id, _Slot()))

    def _write_frame(self, slot: _Slot) -> None:
        if slot.writer is not None and slot.session is not None:
            frame = slot.session.render_frame()
            if frame is not None:
                slot.writer.append_data(frame)

    def _finish_recording(self, slot: _Slot) -> None:
        if slot.writer is not None:
            slot.writer.close()
            slot.writer = None

    def discard(self, slot_id: int) -> None:
        slot = self.slots.setdefault(slot_id, _Slot())
        self._finish_recording(slot)
        if slot.session is not None:
            with contextlib.suppress(Exception):  # a broken session may fail to close; it is dropped anyway
                slot.session.close()
        slot.session, slot.task = None, None

    def close(self) -> None:
        for slot_id in list(self.slots):
            self.discard(slot_id)


def _open_video(path: Path, fps: float) -> Format.Writer:
    import imageio.v2 as imageio  # noqa: PLC0415 - only when recording

    path.parent.mkdir(parents=True, exist_ok=True)
    return imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1)


def serve(sock: socket.socket, preload: threading.Thread | None = None) -> None:
    ours = identity()
    try:
        hello = recv_message(sock)
        if preload is not None:
            preload.join()  # it imported the simulator (and maybe loaded the agent) while we waited
        refused = None if isinstance(hello, Hello) else "the orchestrator's hello is not a Hello"
    except PeerClosed:  # a prestarted worker nobody took
        return
    except ValueError as exc:  # another message layout: an orchestrator of another version
        hello, refused = None, f"env worker version mismatch: cannot read the orchestrator's hello ({exc})"
    refused = refused or mismatch(hello.identity if isinstance(hello, Hello) else None, ours)
    if refused is not None or not isinstance(hello, Hello):  # before any adapter code runs
        send_message(sock, Ready(False, ours, error=refused, kind="version_mismatch"))
        return
    sys.path[:0] = [p for p in hello.sys_path if p not in sys.path]
    try:
        from vla_bench.harness.registry import resolve_adapter  # noqa: PLC0415 - after sys.path is set

        protocol = Protocol.model_validate_json(hello.protocol)
        adapter = resolve_adapter(protocol.adapter)
        simulator = adapter.describe()
    except Exception as exc:  # noqa: BLE001 - report why the benchmark cannot start, then exit
        send_message(sock, Ready(False, ours, error=describe_exception(exc)))
        return
    worker = EnvWorker(protocol, adapter)
    runner = None
    if hello.agent is not None:
        from vla_bench.harness.worker_policy import PolicyHost  # noqa: PLC0415 - only with the policy here

        try:
            runner = PolicyHost(worker, hello.agent, lambda reply: send_message(sock, reply))
        except BaseException as exc:  # noqa: BLE001 - the agent cannot be loaded here: the orchestrator decides
            send_message(sock, Ready(False, ours, error=describe_exception(exc), kind="policy"))
            return
    cost = getattr(adapter, "env_memory_gb", None)  # declared by heavy benchmarks (GB per environment)
    send_message(sock, Ready(True, ours, pid=os.getpid(), simulator=simulator,
                             env_memory_gb=float(cost) if isinstance(cost, int | float) else None))
    try:
        while True:
            request = recv_message(sock)
            if isinstance(request, Close) or not isinstance(request, Batch):
                break
            if runner is not None:
                runner.send(runner.handle(request))  # under the watchdog's lock
            else:
                results = worker.handle(request.items)
                send_message(sock, Reply(results, first_step_at=worker.take_first_step_at()))
    except PeerClosed:
        pass
    finally:
        worker.close()


def _preload(protocol: str, agent: str | None) -> None:
    """Best effort: whatever fails here is done again, and reported, once the hello says what to run."""
    with contextlib.suppress(Exception):
        from vla_bench.harness.registry import resolve_adapter  # noqa: PLC0415
        from vla_bench.protocols import load_protocol  # noqa: PLC0415

        resolve_adapter(load_protocol(protocol).adapter).describe()  # adapters import their simulator here
        if agent:
            from vla_bench.harness.worker_policy import preload_agent  # noqa: PLC0415

            preload_agent(agent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--preload-protocol", help="import this protocol's benchmark while waiting for the hello")
    parser.add_argument("--preload-agent", help="load this agent while waiting (used when the hello asks for it)")
    args = parser.parse_args()
    # Ctrl-C in a terminal reaches the whole process group: the orchestrator decides what stops, not us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    preload = None
    if args.preload_protocol:
        preload = threading.Thread(target=_preload, args=(args.preload_protocol, args.preload_agent), daemon=True)
        preload.start()
    try:
        serve(sock, preload)
    finally:
        sock.close()


if __name__ == "__main__":
    from vla_bench.threads import limit_math_threads

    limit_math_threads()
    main()
