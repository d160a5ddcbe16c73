"""Bounded message sizes: a hostile policy server cannot make an evaluation allocate without limit, and a
client cannot make our policy server do so either."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents.gateway import ConnectionSlot, RemotePolicyError, json_safe
from vla_bench.agents.loaders import agent_from_object
from vla_bench.agents.remote import RemotePolicy, parse_remote_spec
from vla_bench.agents.serving import PolicyServer
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError
from vla_bench.spec.wire import packb

pytest.importorskip("websockets")

TASK = TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0), max_steps=30,
                observation_mode="state")


@contextmanager
def hostile_server(reply: Callable[[int], bytes]) -> Iterator[int]:
    """An openpi-style server whose n-th reply (from 0, per connection) is ``reply(n)``."""
    from websockets.sync.server import serve

    def handler(connection: Any) -> None:
        connection.send(packb({}))
        for n, _ in enumerate(connection):
            connection.send(reply(n))

    with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.socket.getsockname()[1])
        finally:
            server.shutdown()
            thread.join(5)


def _action(n: int, big_at: int) -> bytes:
    if n == big_at:
        return packb({"actions": np.zeros(3 << 20, np.float32)})  # 12 MB
    return packb({"actions": np.full(2, 0.1, np.float32)})


def test_a_reply_over_the_limit_fails_the_call_clearly_and_the_next_one_reconnects() -> None:
    with hostile_server(lambda n: _action(n, big_at=1)) as port:
        policy = RemotePolicy(parse_remote_spec(f"ws://127.0.0.1:{port}?max_message_mb=1"))
        policy.reset(TASK)
        observation: Observation = {"state": np.zeros(3, np.float32)}
        assert policy.act(observation).shape == (2,)
        with pytest.raises(RemotePolicyError, match=r"over the limit of 1 MB.*max_message_mb"):
            policy.act(observation)
        assert policy.act(observation).shape == (2,)  # a fresh connection (its reply #0 is small)
        policy.close()


def test_an_evaluation_records_the_oversized_reply_in_that_episode_only() -> None:
    protocol = fake_protocol(episodes=2, tasks=[{"name": "a", "env_id": "fake"}])
    # every connection's 4th reply is too big: each episode fails at step 3, with the same clear error
    with hostile_server(lambda n: _action(n, big_at=3)) as port:
        result = vla_bench.evaluate(f"ws://127.0.0.1:{port}?max_message_mb=2", protocol, workers=1,
                                    envs_per_worker=1)
    records = {r.key: r.outcome() for r in result.records}
    assert len(records) == 2
    for record in records.values():
        assert record["error_kind"] == "policy_error"
        assert "over the limit of 2 MB" in record["error"]
        assert record["length"] == 3


def test_the_default_limit_refuses_a_frame_of_a_gigabyte_claim() -> None:
    header = b"\x81\xa7actions\xc6" + (1 << 30).to_bytes(4, "big")  # a bin 32 claiming 1 GiB, 8 bytes sent
    with hostile_server(lambda n: header) as port:
        policy = RemotePolicy(parse_remote_spec(f"ws://127.0.0.1:{port}"))
        policy.reset(TASK)
        with pytest.raises(RemotePolicyError, match="unreadable reply"):  # msgpack checks the claim, allocates nothing
            policy.act({"state": np.zeros(3, np.float32)})
        policy.close()


def test_the_size_option_is_checked() -> None:
    with pytest.raises(UserError, match="max_message_mb must be a positive"):
        parse_remote_spec("ws://h:1?max_message_mb=-3")
    with pytest.raises(UserError, match="not a number"):
        parse_remote_spec("ws://h:1?max_message_mb=lots")
    assert parse_remote_spec("ws://h:1?max_message_mb=0.5").max_message == 1 << 19
    assert parse_remote_spec("ws://h:1").max_message == 16 << 20


def test_our_server_drops_a_request_over_its_limit_and_keeps_serving() -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = PolicyServer(agent_from_object(LinearPolicy), port=0, max_message=1 << 20).start()
    try:
        with connect(server.url, max_size=None, compression=None) as ws:
            ws.recv(timeout=5)  # metadata
            ws.send(packb({"state": np.zeros(1 << 19, np.float32)}))  # 2 MB
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        policy = RemotePolicy(parse_remote_spec(server.url))
        policy.reset(TASK)
        assert policy.act({"state": np.ones(3, np.float32)}).shape == (2,)
        policy.close()
    finally:
        server.stop()


def test_json_safe_describes_what_json_cannot_hold() -> None:
    value = {"a": np.zeros((2, 3), np.float32), 1: b"xyz", "t": (1, object)}
    safe = json_safe(value)
    assert isinstance(safe, dict)
    assert safe["a"] == "<array <f4 [2, 3]>" and safe["1"] == "<3 bytes>"
    assert safe["t"][0] == 1 and "object" in safe["t"][1]


class _Connection:
    def __init__(self, log: list[str]) -> None:
        self.broken, self.log = False, log

    def close(self) -> None:
        self.broken = True
        self.log.append("closed")


class _Slot(ConnectionSlot[_Connection]):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self._link = _Connection(log)

    def _farewell(self, link: _Connection) -> None:
        self.log.append("farewell" if not link.broken else "farewell to a closed link")


def test_a_slot_says_farewell_then_hangs_up_once_and_hangs_up_when_dropped() -> None:
    log: list[str] = []
    slot = _Slot(log)
    slot.close()
    slot.close()  # nothing left to close
    assert log == ["farewell", "closed"]
    dropped: list[str] = []
    unclosed = _Slot(dropped)
    del unclosed  # the harness drops policies without closing them: no farewell, but the link is closed
    gc.collect()
    assert dropped == ["closed"]
