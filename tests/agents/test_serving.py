"""``vla-bench serve-policy``: openpi's own client (PyPI ``openpi-client``) queries it and gets the right actions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
from vlab_fakes import BatchedLinearPolicy, LinearPolicy

from vla_bench.agents.loaders import agent_from_object
from vla_bench.agents.remote import PRESETS
from vla_bench.agents.serving import PolicyServer
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.wire import packb

openpi = pytest.importorskip("openpi_client.websocket_client_policy")
# openpi-client 0.1.2 calls websockets' connect() outside a context manager (a DeprecationWarning of theirs)
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
websockets_sync = pytest.importorskip("websockets.sync.client")

TESTS = Path(__file__).resolve().parents[1]
TASK = TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0), max_steps=30,
                observation_mode="state")


def _expected(observation: Observation, task: TaskSpec = TASK) -> np.ndarray:
    policy = LinearPolicy()
    policy.reset(task)
    return policy.act(observation)


@pytest.fixture
def served_cli() -> Iterator[int]:
    """`vla-bench serve-policy vlab_fakes:LinearPolicy` in a subprocess; yields its port."""
    env = dict(os.environ, PYTHONPATH=str(TESTS), COLUMNS="300")
    process = subprocess.Popen(
        [sys.executable, "-m", "vla_bench.cli", "serve-policy", "vlab_fakes:LinearPolicy", "--port", "0",
         "--task-spec", json.dumps(TASK.to_json())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stderr is not None
    try:
        line = process.stderr.readline()
        assert "serving vlab_fakes:LinearPolicy on ws://127.0.0.1:" in line, line + process.stderr.read()
        yield int(line.split("ws://127.0.0.1:")[1].split()[0])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_openpi_client_queries_the_serve_policy_command(served_cli: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{served_cli}/healthz", timeout=10) as response:
        assert response.status == 200
    client = openpi.WebsocketClientPolicy(host="127.0.0.1", port=served_cli)
    metadata = client.get_server_metadata()
    assert metadata["server"] == "vla-bench"
    assert metadata["vla_bench"]["agent"]["spec"] == "vlab_fakes:LinearPolicy"
    assert metadata["vla_bench"]["batched"] is False
    rng = np.random.default_rng(0)
    for _ in range(5):
        observation: Observation = {"state": rng.normal(size=3).astype(np.float32)}
        reply = client.infer(observation)
        assert reply["actions"].dtype == np.float32
        np.testing.assert_array_equal(reply["actions"], _expected(observation))
        assert reply["server_timing"]["infer_ms"] >= 0


class LiberoLikePolicy:
    """Uses two cameras, the state and the instruction; answers a chunk of 4 actions."""

    def reset(self, task: TaskSpec) -> None:
        pass

    def act(self, observation: Observation) -> np.ndarray:
        images = list(observation["images"].values())
        base = np.array([images[0].mean() / 255, images[1].mean() / 255, float(observation["state"].sum()),
                         float(len(observation["instruction"]))], dtype=np.float32)
        return np.stack([base * (i + 1) for i in range(4)])


def test_openpi_client_with_libero_keys_gets_chunks() -> None:
    rng = np.random.default_rng(1)
    image, wrist = (rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(2))
    state = rng.normal(size=8).astype(np.float32)
    with PolicyServer(agent_from_object(LiberoLikePolicy), port=0, keys=PRESETS["openpi-libero"]) as server:
        client = openpi.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        reply = client.infer({"observation/image": image, "observation/wrist_image": wrist,
                              "observation/state": state, "prompt": "put the bowl on the plate"})
    expected = LiberoLikePolicy().act({"images": {"agentview": image, "wrist": wrist}, "state": state,
                                       "instruction": "put the bowl on the plate"})
    assert reply["actions"].shape == (4, 4)
    np.testing.assert_allclose(reply["actions"], expected, rtol=1e-6)


def test_many_openpi_clients_are_batched_through_act_batch() -> None:
    policy = BatchedLinearPolicy(action_dim=2)
    clients_count, steps = 8, 10
    errors: list[BaseException] = []
    with PolicyServer(agent_from_object(policy), port=0, max_batch=8, batch_wait=0.02) as server:
        barrier = threading.Barrier(clients_count)

        def client_loop(seed: int) -> None:
            try:
                client = openpi.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
                rng = np.random.default_rng(seed)
                barrier.wait(timeout=30)
                for _ in range(steps):
                    observation: Observation = {"state": rng.normal(size=3).astype(np.float32)}
                    np.testing.assert_array_equal(client.infer(observation)["actions"], _expected(observation))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client_loop, args=(seed,)) for seed in range(clients_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        stats = server.stats
    assert not errors, errors
    assert stats.requests == clients_count * steps
    assert stats.max_batch > 1 and stats.batches < stats.requests  # requests of different connections shared calls
    assert max(policy.batch_sizes) == stats.max_batch


def test_a_policy_error_is_a_traceback_text_frame_then_close() -> None:
    class Broken:
        def reset(self, task: TaskSpec) -> None:
            pass

        def act(self, observation: Observation) -> np.ndarray:
            raise ValueError("policy bug on the server")

    with PolicyServer(agent_from_object(Broken), port=0) as server:
        client = openpi.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        with pytest.raises(RuntimeError, match="ValueError: policy bug on the server"):
            client.infer({"state": np.zeros(3, np.float32)})
        # the connection was closed with 1011; a new connection is served normally
        with websockets_sync.connect(f"ws://127.0.0.1:{server.port}", proxy=None) as ws:
            ws.recv(timeout=10)  # metadata
            ws.send(packb({"state": np.zeros(3, np.float32)}))
            text = ws.recv(timeout=10)
            assert isinstance(text, str) and "Traceback" in text
            with pytest.raises(Exception, match="1011"):
                ws.recv(timeout=10)


def test_unsafe_dtypes_and_text_requests_are_refused() -> None:
    with PolicyServer(agent_from_object(LinearPolicy), port=0, default_task=TASK) as server:
        for bad in (
            # an object-dtype array: what pickle-based codecs would accept
            {b"__ndarray__": True, b"data": b"\x00" * 8, b"dtype": "|O", b"shape": [1]},
            "not binary",
        ):
            with websockets_sync.connect(f"ws://127.0.0.1:{server.port}", proxy=None) as ws:
                ws.recv(timeout=10)
                ws.send(msgpack.packb({"state": bad}) if not isinstance(bad, str) else bad)
                reply = ws.recv(timeout=10)
                assert isinstance(reply, str)
                assert "refusing numpy dtype" in reply or "text frames are not requests" in reply


def test_api_key_is_required_when_set() -> None:
    with PolicyServer(agent_from_object(LinearPolicy), port=0, default_task=TASK, api_key="s3cret") as server:
        with pytest.raises(Exception, match="401"):
            openpi.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        client = openpi.WebsocketClientPolicy(host="127.0.0.1", port=server.port, api_key="s3cret")
        observation: Observation = {"state": np.ones(3, np.float32)}
        np.testing.assert_array_equal(client.infer(observation)["actions"], _expected(observation))
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10) as response:
            assert response.status == 200  # health needs no key


def test_episode_messages_reset_the_connections_policy() -> None:
    other = TaskSpec(name="b", instruction="", action_low=(-1.0,) * 3, action_high=(1.0,) * 3, max_steps=5,
                     observation_mode="state")
    with PolicyServer(agent_from_object(LinearPolicy), port=0) as server, \
            websockets_sync.connect(f"ws://127.0.0.1:{server.port}", proxy=None) as ws:
        from vla_bench.spec.wire import unpackb

        assert unpackb(ws.recv(timeout=10))["vla_bench"]["episode_messages"] is True
        observation: Observation = {"state": np.arange(3, dtype=np.float32)}
        for seq, task in enumerate((TASK, other), start=1):
            ws.send(packb({"__vla_bench__": "episode_start", "seq": seq, "task": task.to_json()}))
            assert unpackb(ws.recv(timeout=10)) == {"ok": True, "seq": seq}
            ws.send(packb(observation))
            np.testing.assert_array_equal(unpackb(ws.recv(timeout=10))["actions"], _expected(observation, task))
            ws.send(packb({"__vla_bench__": "episode_end", "seq": seq}))
            assert unpackb(ws.recv(timeout=10)) == {"ok": True, "seq": seq}
        ws.send(packb({"__vla_bench__": "stats", "seq": 9}))
        stats = unpackb(ws.recv(timeout=10))["stats"]
        assert stats["episodes"] == 2 and stats["requests"] == 2
