"""``serve-policy --wire vla-eval``: vla-eval's own client drives a vla-bench agent unchanged and gets the same
actions as a direct call; a failing observation is reported as vla-eval's ``error`` and the session goes on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

pytest.importorskip("vla_eval")

import anyio
from typer.testing import CliRunner
from vla_eval.connection import Connection
from vla_eval.protocol.numpy_codec import get_image_format
from vlab_fakes import FaultyPolicy, LinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents.loaders import agent_from_object, load_agent
from vla_bench.agents.vlaeval_server import VlaEvalPolicyServer
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, TaskSpec

TASK = TaskSpec(name="pick", instruction="pick it up", action_low=(-1.0,) * 3, action_high=(1.0,) * 3,
                max_steps=20, observation_mode="pixels+state", cameras=("agentview", "wrist"))


class ImagePolicy:
    """Uses every part of the observation, so a lost or reordered key changes the action."""

    def __init__(self) -> None:
        self.task: TaskSpec | None = None

    def reset(self, task: TaskSpec) -> None:
        self.task = task

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        assert self.task is not None
        images = observation["images"]
        weight = len(observation.get("instruction", "")) + len(self.task.instruction)
        return np.array([images["agentview"].astype(np.float64).mean() / 255,
                         images["wrist"][..., 0].astype(np.float64).mean() / 255,
                         float(np.tanh(np.sum(observation["state"]))) * weight / 100], np.float32)


def _observation(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {"images": {"agentview": rng.integers(0, 256, (224, 224, 3), np.uint8),
                       "wrist": rng.integers(0, 256, (224, 224, 3), np.uint8)},
            "state": rng.normal(size=8).astype(np.float32), "instruction": "pick it up"}


async def _drive(url: str, observations: Sequence[Mapping[str, Any]], task: dict[str, Any]) -> list[Any]:
    """vla-eval's own client, used as its sync runner uses it."""
    replies: list[Any] = []
    async with Connection(url, timeout=10, max_retries=2, backoff_base=0.1) as connection:
        assert connection.server_info["protocol_version"] == 1
        assert connection.server_info["model_server"] == "vla-bench"
        await connection.start_episode({"task": task})
        for observation in observations:
            try:
                replies.append((await connection.act(observation))["actions"])
            except RuntimeError as exc:
                replies.append(str(exc))
        await connection.end_episode({"metrics": {}, "steps": len(observations)})
    return replies


def test_vla_eval_client_gets_the_actions_of_a_direct_call() -> None:
    assert get_image_format() == "png"  # vla-eval's client compresses the images: our server decodes them
    server = VlaEvalPolicyServer(agent_from_object(ImagePolicy), port=0, default_task=TASK).start()
    try:
        wire = [{"images": o["images"], "state": o["state"], "task_description": o["instruction"]}
                for o in map(_observation, range(4))]
        replies = anyio.run(_drive, server.url, wire, {"name": "pick", "task_description": "pick it up"})
    finally:
        server.stop()
    direct = ImagePolicy()
    direct.reset(TASK)
    for reply, observation in zip(replies, map(_observation, range(4)), strict=True):
        np.testing.assert_array_equal(reply, direct.act(observation))
        assert reply.dtype == np.float32


def test_a_failing_observation_is_an_error_reply_and_the_session_goes_on() -> None:
    task = TaskSpec(name="a", instruction="", action_low=(-1.0,) * 2, action_high=(1.0,) * 2, max_steps=9,
                    observation_mode="state", episode_seed=7)
    server = VlaEvalPolicyServer(agent_from_object(lambda: FaultyPolicy("raise", 7, at_step=2)), port=0,
                                 default_task=task).start()
    try:
        states: list[Observation] = [{"state": np.full(3, i, np.float32)} for i in range(3)]
        replies = anyio.run(_drive, server.url, states, {"name": "a"})
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as health:
            assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
    finally:
        server.stop()
    assert "observation_failed: ValueError: policy bug" in replies[1]
    direct = LinearPolicy()
    direct.reset(task)
    np.testing.assert_array_equal(replies[0], direct.act(states[0]))
    np.testing.assert_array_equal(replies[2], direct.act(states[2]))


def test_our_client_and_our_server_on_vla_eval_wire_equal_the_in_process_evaluation() -> None:
    protocol = fake_protocol(episodes=3)
    bad = episode_spec(protocol, "a", 1)
    reference = {r.key: r.outcome() for r in vla_bench.evaluate(LinearPolicy, protocol, workers=1,
                                                                  envs_per_worker=2).records}
    server = VlaEvalPolicyServer(agent_from_object(lambda: FaultyPolicy("raise", bad.seed, at_step=4)),
                                 port=0).start()
    try:
        agent = load_agent(f"vlaeval://127.0.0.1:{server.port}")
        assert agent.details["server_hello"]["model_server"] == "vla-bench"
        records = {r.key: r.outcome() for r in vla_bench.evaluate(agent, protocol, workers=1,
                                                                  envs_per_worker=2).records}
    finally:
        server.stop()
    failed = records.pop(("a", 1))
    assert failed["error_kind"] == "policy_error" and "observation_failed: ValueError: policy bug" in failed["error"]
    reference.pop(("a", 1))
    assert records == reference


def test_serve_policy_checks_its_wire_options() -> None:
    import typer

    from vla_bench.cli.serve_policy import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # typer runs a single command without its name otherwise
    runner = CliRunner()
    bad = runner.invoke(app, ["serve-policy", "baseline:zero", "--wire", "grpc"])
    assert bad.exit_code != 0 and "expected one of openpi, vla-eval" in str(bad.exception)
    preset = runner.invoke(app, ["serve-policy", "baseline:zero", "--wire", "vla-eval", "--keys", "openpi-libero"])
    assert preset.exit_code != 0 and "unknown key preset" in str(preset.exception)
