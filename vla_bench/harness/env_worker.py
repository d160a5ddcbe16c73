"""The env worker process: hosts environment sessions and steps them on the orchestrator's request.

Started as ``python -m vla_bench.harness.env_worker --fd N`` with one end of a socket pair, possibly in a
benchmark's own interpreter (``vla_bench.runtimes``). The first message is the orchestrator's hello
(``identity``, ``protocol``, ``sys_path``); the reply carries the worker's own identity (``handshake.py``)
and ``ok`` or the reason it cannot serve. Messages are
msgpack (numpy arrays inline, no pickle). Every request is a batch of items, one per episode slot:
``{"slot", "reset": episode}``, ``{"slot", "action": float32[A]}`` or ``{"slot", "end": true}``; the reply
holds one result per item, in order. An exception inside an environment fails only that item (the
session is discarded, its state being unknown); the worker itself lives on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession
from vla_bench.harness.framing import PeerClosed, recv_message, send_message
from vla_bench.harness.handshake import identity, mismatch
from vla_bench.spec import EpisodeSpec, Protocol
from vla_bench.spec.errors import describe_exception


@dataclass
class _Slot:
    session: EnvSession | None = None
    task: str | None = None
    render: bool = False
    writer: Any = None  # imageio writer while this slot's episode is being recorded


class EnvWorker:
    """The worker's logic, independent of the transport (unit-testable in-process)."""

    def __init__(self, protocol: Protocol, adapter: BenchmarkAdapter) -> None:
        self.protocol = protocol
        self.adapter = adapter
        self.slots: dict[int, _Slot] = {}

    def handle(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._handle_item(item) for item in items]

    def _handle_item(self, item: dict[str, Any]) -> dict[str, Any]:
        slot_id = int(item["slot"])
        slot = self.slots.setdefault(slot_id, _Slot())
        try:
            if "reset" in item:
                return self._reset(slot_id, slot, item["reset"], item.get("record"))
            if "action" in item:
                return self._step(slot_id, slot, item["action"])
            self._finish_recording(slot)
            return {"slot": slot_id, "ended": True}
        except Exception as exc:  # noqa: BLE001 - an environment fault fails this item only
            self._discard(slot)
            return {"slot": slot_id, "error": describe_exception(exc), "kind": "env_error"}

    def _reset(self, slot_id: int, slot: _Slot, episode: dict[str, Any], record: str | None) -> dict[str, Any]:
        self._finish_recording(slot)
        spec = EpisodeSpec(**episode)
        render = record is not None
        if slot.session is None or slot.task != spec.task or slot.render != render:
            self._discard(slot)
            slot.session = self.adapter.make_session(self.protocol, self.protocol.task(spec.task), render=render)
            slot.task, slot.render = spec.task, render
        observation = slot.session.reset(spec)
        if record is not None:
            fps = slot.session.frames_per_second or self.protocol.control_hz or 30.0
            slot.writer = _open_video(Path(record), fps)
            self._write_frame(slot)
        return {"slot": slot_id, "observation": observation, "task_spec": slot.session.task_spec.to_json()}

    def _step(self, slot_id: int, slot: _Slot, action: np.ndarray) -> dict[str, Any]:
        if slot.session is None:
            raise RuntimeError("step before reset")
        result = slot.session.step(np.asarray(action, dtype=np.float32))
        self._write_frame(slot)
        return {
            "slot": slot_id,
            "observation": result.observation,
            "reward": result.reward,
            "terminated": result.terminated,
            "truncated": result.truncated,
            "success": result.success,
            "info": result.info,
        }

    def _write_frame(self, slot: _Slot) -> None:
        if slot.writer is not None and slot.session is not None:
            frame = slot.session.render_frame()
            if frame is not None:
                slot.writer.append_data(frame)

    def _finish_recording(self, slot: _Slot) -> None:
        if slot.writer is not None:
            slot.writer.close()
            slot.writer = None

    def _discard(self, slot: _Slot) -> None:
        self._finish_recording(slot)
        if slot.session is not None:
            with contextlib.suppress(Exception):  # a broken session may fail to close; it is dropped anyway
                slot.session.close()
        slot.session, slot.task = None, None

    def close(self) -> None:
        for slot in self.slots.values():
            self._discard(slot)


def _open_video(path: Path, fps: float) -> Any:
    import imageio.v2 as imageio  # noqa: PLC0415 - only when recording

    path.parent.mkdir(parents=True, exist_ok=True)
    return imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1)


def serve(sock: socket.socket) -> None:
    hello = recv_message(sock)
    ours = identity()
    refused = mismatch(hello.get("identity"), ours)
    if refused is not None:  # checked before any adapter code runs: its messages may not mean what we think
        send_message(sock, {"ok": False, "kind": "version_mismatch", "error": refused, "identity": ours})
        return
    sys.path[:0] = [p for p in hello.get("sys_path", []) if p not in sys.path]
    try:
        from vla_bench.harness.registry import resolve_adapter  # noqa: PLC0415 - after sys.path is set

        protocol = Protocol.model_validate_json(hello["protocol"])
        adapter = resolve_adapter(protocol.adapter)
        simulator = adapter.describe()
    except Exception as exc:  # noqa: BLE001 - report why the benchmark cannot start, then exit
        send_message(sock, {"ok": False, "error": describe_exception(exc), "identity": ours})
        return
    send_message(sock, {"ok": True, "pid": os.getpid(), "simulator": simulator, "identity": ours})
    worker = EnvWorker(protocol, adapter)
    try:
        while True:
            request = recv_message(sock)
            if request.get("op") == "close":
                break
            send_message(sock, worker.handle(request["items"]))
    except PeerClosed:
        pass
    finally:
        worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    sock = socket.socket(fileno=args.fd)
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    from vla_bench.threads import limit_math_threads

    limit_math_threads()
    main()
