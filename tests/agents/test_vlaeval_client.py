"""``--agent vlaeval://``: vla-eval's own model-server base class serving a deterministic policy gives records
identical to the in-process evaluation; its errors, silence and wrong versions end only their episode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

pytest.importorskip("vla_eval")

from vlab_fakes import ChunkPolicy, FaultyPolicy, LinearPolicy, fake_protocol
from vlaeval_peer import PolicyModelServer, serving

import vla_bench
from vla_bench.agents import load_agent
from vla_bench.agents.keymaps import VLAEVAL_PRESETS
from vla_bench.agents.vlaeval_client import VlaEvalPolicy, parse_vlaeval_spec
from vla_bench.agents.vlaeval_wire import pack, unpack
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError


def _outcomes(result: Any) -> dict:
    return {r.key: r.outcome() for r in result.records}


def test_hopper_through_a_vla_eval_model_server_equals_the_in_process_evaluation() -> None:
    schedule: dict[str, Any] = {"workers": 1, "envs_per_worker": 2, "limit_episodes": 3}
    reference = _outcomes(vla_bench.evaluate(LinearPolicy, "mujoco/hopper@v1", **schedule))
    model_server = PolicyModelServer(LinearPolicy)
    with serving(model_server) as port:
        agent = load_agent(f"vlaeval://127.0.0.1:{port}")
        assert agent.details["server"] == "vla-eval"
        assert agent.details["server_hello"]["model_server"] == "PolicyModelServer"
        result = vla_bench.evaluate(agent, "mujoco/hopper@v1", **schedule)
    assert _outcomes(result) == reference
    assert len(reference) == 3 and all(o["error"] is None for o in reference.values())
    starts = model_server.episode_starts
    assert len(starts) == 3 and starts[0]["task"]["name"] == "hopper"
    assert starts[0]["task_spec"]["observation_mode"] == "state"
    assert model_server.observation_keys[0] == ["state"]  # no language, no cameras: only what exists is sent


def test_a_server_error_mid_episode_fails_only_that_episode() -> None:
    protocol = fake_protocol(episodes=3)
    bad = episode_spec(protocol, "b", 1)
    reference = _outcomes(vla_bench.evaluate(LinearPolicy, protocol, workers=1, envs_per_worker=2))
    with serving(PolicyModelServer(lambda: FaultyPolicy("raise", bad.seed, at_step=3))) as port:
        result = _outcomes(vla_bench.evaluate(f"vlaeval://127.0.0.1:{port}", protocol, workers=1,
                                              envs_per_worker=2))
    failed = result.pop(("b", 1))
    assert failed["error_kind"] == "policy_error"
    assert "observation_failed: ValueError: policy bug" in failed["error"]
    assert failed["length"] == 2
    reference.pop(("b", 1))
    assert result == reference


def test_chunks_travel_whole_and_replan_keeps_their_head() -> None:
    protocol = fake_protocol(episodes=2)
    reference = _outcomes(vla_bench.evaluate(lambda: ChunkPolicy(size=4), protocol, workers=1, envs_per_worker=2))
    with serving(PolicyModelServer(lambda: ChunkPolicy(size=4))) as port:
        result = _outcomes(vla_bench.evaluate(f"vlaeval://127.0.0.1:{port}", protocol, workers=1,
                                              envs_per_worker=2))
        policy = VlaEvalPolicy(parse_vlaeval_spec(f"vlaeval://127.0.0.1:{port}?replan=2"))
        policy.reset(TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0),
                              max_steps=5, observation_mode="state"))
        assert policy.act({"state": np.ones(3, np.float32)}).shape == (2, 2)
        policy.close()
    assert result == reference


# ------------------------------------------------------------------------------------ misbehaving servers
@contextmanager
def scripted_server(answer: Any) -> Iterator[int]:
    """A server speaking vla-eval's framing whose replies ``answer(kind, payload, seq)`` returns (bytes|None)."""
    from websockets.sync.server import serve

    def handler(connection: Any) -> None:
        for frame in connection:
            reply = answer(*unpack(frame))
            if reply is not None:
                connection.send(reply)

    with serve(handler, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.socket.getsockname()[1])
        finally:
            server.shutdown()
            thread.join(5)


def test_a_server_of_another_protocol_version_is_refused_clearly() -> None:
    def answer(kind: str, payload: dict, seq: int) -> bytes | None:
        return pack("hello", {"protocol_version": 2, "model_server": "Future"}, seq) if kind == "hello" else None

    with scripted_server(answer) as port, pytest.raises(UserError, match=r"protocol version 2; this client speaks 1"):
        load_agent(f"vlaeval://127.0.0.1:{port}")


def test_silence_ends_the_episode_and_the_next_call_reconnects() -> None:
    calls = {"observation": 0, "hello": 0}

    def answer(kind: str, payload: dict, seq: int) -> bytes | None:
        if kind == "hello":
            calls["hello"] += 1
            return pack("hello", {"protocol_version": 1}, seq)
        if kind == "observation":
            calls["observation"] += 1
            if calls["observation"] == 2:
                return None  # never answers this one
            return pack("action", {"actions": np.full(2, 0.5, np.float32)}, seq)
        return None

    task = TaskSpec(name="a", instruction="go", action_low=(-1.0,) * 2, action_high=(1.0,) * 2, max_steps=5,
                    observation_mode="state")
    with scripted_server(answer) as port:
        policy = VlaEvalPolicy(parse_vlaeval_spec(f"vlaeval://127.0.0.1:{port}?timeout=0.3"))
        policy.reset(task)
        observation: Observation = {"state": np.zeros(3, np.float32), "instruction": "go"}
        np.testing.assert_array_equal(policy.act(observation), [0.5, 0.5])
        with pytest.raises(Exception, match=r"did not answer within 0.3 s"):
            policy.act(observation)
        started = time.perf_counter()
        np.testing.assert_array_equal(policy.act(observation), [0.5, 0.5])  # a fresh connection
        assert time.perf_counter() - started < 5
        policy.close()
    assert calls["hello"] == 2


def test_a_reply_out_of_turn_or_malformed_is_an_error() -> None:
    def answer(kind: str, payload: dict, seq: int) -> bytes | None:
        if kind == "hello":
            return pack("hello", {"protocol_version": 1}, seq)
        if kind == "observation":
            return pack("action", {"actions": np.zeros(2, np.float32)}, seq + 7)
        return None

    task = TaskSpec(name="a", instruction="", action_low=(-1.0,) * 2, action_high=(1.0,) * 2, max_steps=5,
                    observation_mode="state")
    with scripted_server(answer) as port:
        policy = VlaEvalPolicy(parse_vlaeval_spec(f"vlaeval://127.0.0.1:{port}"))
        policy.reset(task)
        with pytest.raises(Exception, match=r"answered action #\d+ with action #\d+"):
            policy.act({"state": np.zeros(3, np.float32)})
        policy.close()


# ------------------------------------------------------------------------------------------- key maps
def test_libero_preset_names_the_observation_as_vla_eval_libero_does() -> None:
    image, wrist = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    observation: Observation = {"state": np.zeros(8, np.float32), "images": {"agentview": image, "eye_in_hand": wrist},
                                "instruction": "open the drawer"}
    message = VLAEVAL_PRESETS["vla-eval-libero"].to_wire(observation)
    assert sorted(message) == ["images", "states", "task_description"]
    images = message["images"]
    assert isinstance(images, dict) and sorted(images) == ["agentview", "wrist"] and images["wrist"] is wrist
    back = VLAEVAL_PRESETS["vla-eval-libero"].from_wire(message)
    assert sorted(back["images"]) == ["0", "1"] and back["instruction"] == "open the drawer"
    plain = VLAEVAL_PRESETS["vla-eval"].to_wire(observation)
    assert sorted(plain) == ["images", "state", "task_description"]
    assert isinstance(plain["images"], dict) and sorted(plain["images"]) == ["agentview", "eye_in_hand"]
    custom = parse_vlaeval_spec("vlaeval://h:1?map=images.0:obs/cams/front,state:obs/proprio").keys
    nested = custom.to_wire(observation)["obs"]
    assert isinstance(nested, dict) and nested["cams"]["front"] is image


def test_spec_options_are_checked() -> None:
    settings = parse_vlaeval_spec("vlaeval://gpu:9000/x?keys=vla-eval-libero&timeout=2&benchmark=libero_spatial")
    assert settings.url == "ws://gpu:9000/x" and settings.timeout == 2 and settings.benchmark == "libero_spatial"
    with pytest.raises(UserError, match="Did you mean 'timeout'"):
        parse_vlaeval_spec("vlaeval://h:1?timout=3")
    with pytest.raises(UserError, match="unknown key preset"):
        parse_vlaeval_spec("vlaeval://h:1?keys=vla-eval-libro")
    with pytest.raises(UserError, match="replan must be"):
        parse_vlaeval_spec("vlaeval://h:1?replan=-1")
    with pytest.raises(UserError, match="must look like"):
        parse_vlaeval_spec("vlaeval:///nohost")


def test_the_eval_command_with_a_vlaeval_agent_writes_the_in_process_records(tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    reference = vla_bench.evaluate(LinearPolicy, "mujoco/hopper@v1", limit_episodes=2, out=tmp_path / "local")
    with serving(PolicyModelServer(LinearPolicy)) as port:
        run = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", "--agent", f"vlaeval://127.0.0.1:{port}",
                              "--protocol", "mujoco/hopper@v1", "--limit-episodes", "2", "--out",
                              str(tmp_path / "remote"), "--format", "json"],
                             capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, PYTHONPATH=str(tests)))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["agent"]["details"]["server"] == "vla-eval"

    def episodes(folder: Path) -> list[dict[str, Any]]:
        rows = [json.loads(line) for line in (folder / "episodes.jsonl").read_text().splitlines()]
        return sorted(({k: v for k, v in row.items() if k != "timings"}
                       for row in rows), key=lambda row: (row["task"], row["episode_index"]))

    assert len(reference.records) == 2
    assert episodes(tmp_path / "remote") == episodes(tmp_path / "local")
