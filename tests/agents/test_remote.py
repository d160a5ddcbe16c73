"""``--agent ws://HOST:PORT``: an evaluation through our server equals the in-process one, episode by episode;
faults on the wire end only their episode and the client reconnects."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from vlab_fakes import BatchedLinearPolicy, ChunkPolicy, FaultyPolicy, LinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents import is_batched, load_agent
from vla_bench.agents.loaders import agent_from_object
from vla_bench.agents.remote import (
    PRESETS,
    RemotePolicy,
    RemotePolicyError,
    SharedRemotePolicy,
    parse_key_map,
    parse_remote_spec,
)
from vla_bench.agents.serving import PolicyServer
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError

pytest.importorskip("websockets")

TASK = TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0), max_steps=30,
                observation_mode="state")


def _outcomes(result: Any) -> dict:
    return {r.key: r.outcome() for r in result.records}


def _serve(policy: object, **options: Any) -> PolicyServer:
    return PolicyServer(agent_from_object(policy), port=0, **options).start()


# ---------------------------------------------------------------------------------------- evaluations
@pytest.mark.parametrize(
    ("policy", "shared"),
    [
        (LinearPolicy, False),  # one connection, hence one server-side policy, per episode slot
        (lambda: ChunkPolicy(size=4), False),  # chunks travel whole and are executed open-loop
        (BatchedLinearPolicy(action_dim=2), True),  # one shared client; the server batches across connections
    ],
    ids=["per-slot", "chunks", "batched"],
)
def test_ws_evaluation_matches_the_in_process_evaluation(policy: object, shared: bool) -> None:
    protocol = fake_protocol(episodes=7)
    schedule: dict[str, Any] = {"workers": 2, "envs_per_worker": 6}  # lanes of 3 live episodes
    reference = _outcomes(vla_bench.evaluate(policy, protocol, **schedule))
    server = _serve(policy, max_batch=3, batch_wait=0.005)
    try:
        agent = load_agent(f"ws://127.0.0.1:{server.port}")
        assert agent.kind == "remote"
        assert is_batched(agent.factory()) is shared
        result = vla_bench.evaluate(agent, protocol, **schedule)
        deadline = time.monotonic() + 5
        while server.stats.open_connections and time.monotonic() < deadline:  # the client hung up when done
            time.sleep(0.02)
        assert server.stats.open_connections == 0
    finally:
        server.stop()
    assert _outcomes(result) == reference
    assert result.summary["agent"]["spec"] == f"ws://127.0.0.1:{server.port}"
    assert result.summary["agent"]["details"]["server"] == "vla-bench"
    if shared:
        assert server.stats.max_batch > 1  # observations of several episodes answered by one act_batch


def test_a_server_side_error_ends_that_episode_and_the_run_goes_on() -> None:
    protocol = fake_protocol(episodes=4)
    bad = episode_spec(protocol, "a", 2)
    reference = _outcomes(vla_bench.evaluate(LinearPolicy, protocol, workers=1, envs_per_worker=2))
    server = _serve(lambda: FaultyPolicy("raise", bad.seed, at_step=3))
    try:
        result = _outcomes(vla_bench.evaluate(f"ws://127.0.0.1:{server.port}", protocol, workers=1,
                                              envs_per_worker=2))
    finally:
        server.stop()
    failed = result.pop(("a", 2))
    assert failed["error_kind"] == "policy_error"
    assert "RemotePolicyError" in failed["error"] and "ValueError: policy bug" in failed["error"]
    assert failed["length"] == 2
    reference.pop(("a", 2))
    assert result == reference  # the slot reconnected: later episodes on it are unaffected
    assert server.stats.connections >= 4  # probe + two slots + the reconnection


def test_a_reply_that_does_not_come_in_time_ends_that_episode() -> None:
    protocol = fake_protocol(episodes=3, tasks=[{"name": "a", "env_id": "fake"}])
    bad = episode_spec(protocol, "a", 0)
    server = _serve(lambda: FaultyPolicy("hang", bad.seed, at_step=2, sleep=2.0))
    try:
        records = _outcomes(vla_bench.evaluate(f"ws://127.0.0.1:{server.port}?timeout=0.5", protocol,
                                               workers=1, envs_per_worker=1))
    finally:
        server.stop()
    failed = records[("a", 0)]
    assert failed["error_kind"] == "policy_error"
    assert "did not answer within 0.5 s" in failed["error"]
    assert records[("a", 1)]["error"] is None and records[("a", 2)]["error"] is None


def test_a_lost_connection_fails_the_call_and_the_next_episode_reconnects() -> None:
    first = _serve(LinearPolicy)
    port = first.port
    settings = parse_remote_spec(f"ws://127.0.0.1:{port}?connect_timeout=10")
    policy = RemotePolicy(settings)
    observation: Observation = {"state": np.arange(3, dtype=np.float32)}
    local = LinearPolicy()
    local.reset(TASK)
    policy.reset(TASK)
    np.testing.assert_array_equal(policy.act(observation), local.act(observation))
    first.stop()
    with pytest.raises(RemotePolicyError, match=r"lost the connection|did not answer"):
        policy.act(observation)
    second = PolicyServer(agent_from_object(LinearPolicy), port=port).start()  # back on the same port
    try:
        policy.reset(TASK)  # reconnects and announces the episode to the fresh server-side policy
        np.testing.assert_array_equal(policy.act(observation), local.act(observation))
    finally:
        policy.close()
        second.stop()


def test_a_missing_api_key_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _serve(LinearPolicy, api_key="s3cret")
    try:
        started = time.perf_counter()
        with pytest.raises(UserError, match=r"HTTP 401 .*set VLA_BENCH_POLICY_API_KEY"):
            load_agent(f"ws://127.0.0.1:{server.port}")
        assert time.perf_counter() - started < 5  # no waiting for connect_timeout
        monkeypatch.setenv("VLA_BENCH_POLICY_API_KEY", "s3cret")
        policy = load_agent(f"ws://127.0.0.1:{server.port}").factory()
        policy.reset(TASK)
        assert policy.act({"state": np.ones(3, np.float32)}).shape == (2,)
    finally:
        server.stop()


def test_an_unreachable_server_is_a_clear_user_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"cannot connect to policy server .* serve-policy"):
        load_agent(f"ws://127.0.0.1:{port}?connect_timeout=0.5")
    assert time.perf_counter() - started < 10


# -------------------------------------------------------------------------------------------- keys
def test_openpi_libero_preset_names_the_observation_like_openpi() -> None:
    image, wrist = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    observation = {"state": np.zeros(8, np.float32), "images": {"agentview": image, "eye_in_hand": wrist},
                   "instruction": "open the drawer"}
    message = PRESETS["openpi-libero"].to_wire(observation)  # type: ignore[arg-type]
    assert sorted(message) == ["observation/image", "observation/state", "observation/wrist_image", "prompt"]
    assert message["observation/wrist_image"] is wrist and message["prompt"] == "open the drawer"
    back = PRESETS["openpi-libero"].from_wire(message)
    assert sorted(back["images"]) == ["0", "1"] and back["instruction"] == "open the drawer"
    lerobot = PRESETS["lerobot"].to_wire(observation)  # type: ignore[arg-type]
    assert sorted(lerobot) == ["observation.images.agentview", "observation.images.eye_in_hand",
                               "observation.state", "task"]
    assert sorted(PRESETS["lerobot"].from_wire(lerobot)["images"]) == ["agentview", "eye_in_hand"]
    with pytest.raises(RemotePolicyError, match="no camera"):
        parse_key_map("images.top:img").to_wire(observation)  # type: ignore[arg-type]


def test_remote_spec_options() -> None:
    settings = parse_remote_spec("ws://gpu-box:8000/policy?keys=openpi-libero&timeout=2.5")
    assert settings.url == "ws://gpu-box:8000/policy"
    assert settings.keys.name == "openpi-libero" and settings.replan == 5 and settings.timeout == 2.5
    custom = parse_remote_spec("ws://h:1?map=state:obs/state,images.*:cam/*&replan=0")
    assert custom.keys.fields == (("state", "obs/state"), ("images.*", "cam/*")) and custom.replan == 0
    with pytest.raises(UserError, match="Did you mean 'timeout'"):
        parse_remote_spec("ws://h:1?timout=3")
    with pytest.raises(UserError, match="unknown key preset"):
        parse_remote_spec("ws://h:1?keys=openpi-libro")
    with pytest.raises(UserError, match="bad key mapping"):
        parse_remote_spec("ws://h:1?map=pose:x")


def test_the_replan_option_keeps_the_head_of_each_chunk() -> None:
    server = _serve(lambda: ChunkPolicy(size=6))
    try:
        factory: Callable[[], Any] = load_agent(f"ws://127.0.0.1:{server.port}?replan=2").factory
        policy = factory()
        assert isinstance(policy, RemotePolicy) and not isinstance(policy, SharedRemotePolicy)
        policy.reset(TASK)
        actions = policy.act({"state": np.ones(3, np.float32)})
        assert actions.shape == (2, 2)
        policy.close()
    finally:
        server.stop()
