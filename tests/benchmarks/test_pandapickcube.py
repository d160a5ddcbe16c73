"""PandaPickCube adapter: protocol files, seeded resets, observation layout, and a success rule that can fire."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # gym-hil builds a renderer at construction, even for state obs

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from vla_bench.benchmarks import ADAPTERS
from vla_bench.benchmarks.base import EnvSession
from vla_bench.benchmarks.pandapickcube.adapter import PandaPickCubeAdapter
from vla_bench.protocols import get_protocol
from vla_bench.spec import EpisodeSpec, Observation

STATE_ID = "pandapickcube/state@v1"
VISION_ID = "pandapickcube/vision@v1"
SERL_HOME_TCP = (0.308, 0.0, 0.444)  # pinch site at serl's _PANDA_HOME (measured once, to 1 mm)
SERL_BLOCK_XY_BOUNDS = ((0.25, -0.25), (0.55, 0.25))  # serl panda_pick_gym_env.py _SAMPLING_BOUNDS
CARTESIAN_LOW, CARTESIAN_HIGH = np.array([0.2, -0.3, 0.0]), np.array([0.6, 0.3, 0.5])  # serl _CARTESIAN_BOUNDS

Policy = Callable[[Observation], np.ndarray]


def _episode(seed: int) -> EpisodeSpec:
    return EpisodeSpec(task="pick_cube", task_index=0, episode_index=0, seed=seed)


def _make(protocol_id: str, *, render: bool = False) -> EnvSession:
    protocol = get_protocol(protocol_id)
    return PandaPickCubeAdapter().make_session(protocol, protocol.tasks[0], render=render)


@pytest.fixture(scope="module")
def state_session() -> Iterator[EnvSession]:
    session = _make(STATE_ID)
    yield session
    session.close()


@pytest.fixture(scope="module")
def vision_session() -> Iterator[EnvSession]:
    session = _make(VISION_ID, render=True)
    yield session
    session.close()


def _rollout(session: EnvSession, seed: int, policy: Policy, steps: int) -> dict[str, list]:
    observation = session.reset(_episode(seed))
    out: dict[str, list] = {"obs": [observation], "reward": [], "success": [], "lift": [], "terminated": []}
    for _ in range(steps):
        result = session.step(np.asarray(policy(observation), dtype=np.float32))
        observation = result.observation
        out["obs"].append(observation)
        out["reward"].append(result.reward)
        out["success"].append(result.success)
        out["lift"].append(result.info["lift_height"])
        out["terminated"].append(result.terminated)
    return out


class ScriptedPick:
    """Above the block, down, close, lift: from the 10-D state only.

    The action moves the controller's target (not the hand) by 0.1 m per unit, so the policy tracks that
    target itself, starting from the hand position at reset, and steers it instead of the lagging hand.
    """

    def __init__(self) -> None:
        self.target: np.ndarray | None = None
        self.phase, self.closing_steps = "approach", 0

    def __call__(self, observation: Observation) -> np.ndarray:
        state = observation["state"].astype(np.float64)
        block, tcp = state[0:3], state[4:7]
        if self.target is None:  # first call: the reset observation, where the target sits at the hand
            self.target = tcp.copy()
        grip = -1.0
        if self.phase == "approach":
            goal = block + np.array([0.0, 0.0, 0.06])
            if np.linalg.norm(goal - tcp) < 0.015:
                self.phase = "descend"
        if self.phase == "descend":
            goal = block
            if np.linalg.norm(goal - tcp) < 0.01:
                self.phase = "close"
        if self.phase == "close":
            goal, grip = self.target, 1.0
            self.closing_steps += 1
            if self.closing_steps > 6:  # the fingers need ~0.1 s to close on the block
                self.phase = "lift"
        if self.phase == "lift":
            goal, grip = np.array([block[0], block[1], 0.5]), 1.0
        move = np.clip((goal - self.target) / 0.1, -1.0, 1.0)
        self.target = np.clip(self.target + 0.1 * move, CARTESIAN_LOW, CARTESIAN_HIGH)
        return np.array([*move, grip])


# Protocols


@pytest.mark.parametrize("protocol_id", [STATE_ID, VISION_ID])
def test_protocol_loads_and_fixes_serl_task(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    assert protocol.id == protocol_id
    assert protocol.adapter == "pandapickcube" and protocol.adapter in ADAPTERS
    assert (protocol.max_steps, protocol.episodes_per_task, protocol.control_hz) == (100, 50, 50.0)
    assert protocol.primary_metric == "success_rate"
    assert (protocol.success.kind, protocol.success.threshold, protocol.success.any_step) == ("lift_height", 0.2, True)
    assert protocol.success.source
    assert protocol.tasks[0].env_kwargs == {"control_dt": 0.02, "physics_dt": 0.002}


def test_registry_entry_names_this_adapter() -> None:
    module, _, attr = ADAPTERS["pandapickcube"].partition(":")
    assert getattr(importlib.import_module(module), attr) is PandaPickCubeAdapter
    assert PandaPickCubeAdapter.name == "pandapickcube"
    assert set(PandaPickCubeAdapter().describe()) == {"gym-hil", "mujoco"}


# Observations and action space


def test_state_observation_layout(state_session: EnvSession) -> None:
    spec = state_session.task_spec
    assert (spec.action_low, spec.action_high) == ((-1.0,) * 4, (1.0,) * 4)
    assert (spec.state_dim, spec.observation_mode, spec.cameras) == (10, "state", ())
    observation = state_session.reset(_episode(7))
    state = observation["state"]
    assert set(observation) == {"state"}
    assert state.shape == (10,) and state.dtype == np.float32
    block, gripper, tcp, tcp_vel = state[0:3], state[3], state[4:7], state[7:10]
    assert block[2] == pytest.approx(0.02)  # resting on the floor: the block's half size
    assert gripper == 0.0
    np.testing.assert_allclose(tcp, SERL_HOME_TCP, atol=1e-3)
    np.testing.assert_array_equal(tcp_vel, 0.0)
    result = state_session.step(np.array([0.0, 0.0, 0.0, 0.5], dtype=np.float32))
    assert result.observation["state"][3] == pytest.approx(0.5)  # serl: gripper_pos = commanded closure


def test_state_order_is_gym_flatten_order_of_serl_dict() -> None:
    # serl's SERLObsWrapper flattens its state Dict with gym.spaces.flatten; gym's Dict sorts its keys.
    box: dict[str, gym.spaces.Space[Any]] = {
        n: gym.spaces.Box(-np.inf, np.inf, (d,)) for n, d in [("tcp_pos", 3), ("tcp_vel", 3), ("gripper_pos", 1)]}
    serl_space = gym.spaces.Dict({f"panda/{n}": b for n, b in box.items()} | {"block_pos": box["tcp_pos"]})
    assert list(serl_space) == ["block_pos", "panda/gripper_pos", "panda/tcp_pos", "panda/tcp_vel"]


def test_vision_observation_shapes_and_upright(vision_session: EnvSession) -> None:
    spec = vision_session.task_spec
    assert (spec.state_dim, spec.cameras, spec.observation_mode) == (7, ("front", "wrist"), "pixels+state")
    observation = vision_session.reset(_episode(3))
    assert set(observation) == {"state", "images"}
    assert observation["state"].shape == (7,) and observation["state"].dtype == np.float32
    np.testing.assert_allclose(observation["state"][1:4], SERL_HOME_TCP, atol=1e-3)
    assert set(observation["images"]) == {"front", "wrist"}
    for image in observation["images"].values():
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and image.std() > 10
    front = observation["images"]["front"].astype(int)
    block = (front[..., 0] > front[..., 1] + 40) & (front[..., 2] > front[..., 1] + 40)  # the purple cube
    arm = front.min(axis=-1) > 170  # the white Panda links, all above the cube
    assert block.sum() > 10 and arm.sum() > 100
    assert np.nonzero(arm)[0].mean() < np.nonzero(block)[0].mean()  # upright: the arm is higher in the image
    wrist = observation["images"]["wrist"].astype(float)
    assert wrist[-20:].mean() < wrist[:20].mean()  # the dark fingers sit at the bottom of the wrist view
    for _ in range(2):
        result = vision_session.step(np.array([0.5, 0.0, -0.5, 1.0], dtype=np.float32))
        assert result.observation["images"]["wrist"].shape == (128, 128, 3)
    frame = vision_session.render_frame()
    assert frame is not None and frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, result.observation["images"]["front"])


def test_render_frame_for_state_protocol() -> None:
    session = _make(STATE_ID, render=True)
    try:
        session.reset(_episode(1))
        frame = session.render_frame()
        assert frame is not None and frame.shape == (256, 256, 3) and frame.dtype == np.uint8 and frame.std() > 10
    finally:
        session.close()


def test_state_session_without_render_gives_no_frame(state_session: EnvSession) -> None:
    assert state_session.render_frame() is None


# Determinism


def _random_policy(seed: int) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda _observation: rng.uniform(-1.0, 1.0, 4)


def test_same_seed_same_episode_bitwise(state_session: EnvSession) -> None:
    global_rng = np.random.get_state(legacy=False)["state"]["key"].copy()
    first = _rollout(state_session, 11, _random_policy(0), 40)
    _rollout(state_session, 12, _random_policy(1), 10)  # a different episode in between on the same session
    again = _rollout(state_session, 11, _random_policy(0), 40)
    for a, b in zip(first["obs"], again["obs"], strict=True):
        assert a["state"].tobytes() == b["state"].tobytes()
    assert first["reward"] == again["reward"] and first["lift"] == again["lift"]
    # NumPy's global RNG is left alone
    np.testing.assert_array_equal(np.random.get_state(legacy=False)["state"]["key"], global_rng)


def test_same_seed_same_start_across_sessions(state_session: EnvSession) -> None:
    other = _make(STATE_ID)
    try:
        assert other.reset(_episode(5))["state"].tobytes() == state_session.reset(_episode(5))["state"].tobytes()
    finally:
        other.close()


def test_block_position_follows_seed_over_serls_range(state_session: EnvSession) -> None:
    xy = np.array([state_session.reset(_episode(seed))["state"][0:2] for seed in range(20)])
    assert len({tuple(p) for p in xy}) == 20
    low, high = np.array(SERL_BLOCK_XY_BOUNDS)
    assert np.all(xy >= low) and np.all(xy <= high)
    assert np.any(np.abs(xy[:, 1]) > 0.15)  # beyond gym-hil's own range (|y| <= 0.15): serl's range is used


# Success rule


def test_scripted_pick_succeeds(state_session: EnvSession) -> None:
    seeds = [101, 202, 303, 404, 505]
    successes = 0
    for seed in seeds:
        episode = _rollout(state_session, seed, ScriptedPick(), state_session.task_spec.max_steps)
        assert not any(episode["terminated"])
        if any(episode["success"]):
            successes += 1
            step = episode["success"].index(True)
            assert episode["lift"][step] >= 0.2
            assert episode["reward"][step] >= 0.7  # serl's lift term is saturated at a 0.2 m lift
        assert all(s == (lift >= 0.2) for s, lift in zip(episode["success"], episode["lift"], strict=True))
    assert successes >= 4, f"scripted pick succeeded on {successes}/{len(seeds)} seeds"


@pytest.mark.parametrize("policy_name", ["zero", "random"])
def test_idle_and_random_policies_do_not_succeed(state_session: EnvSession, policy_name: str) -> None:
    for seed in (1, 2):
        policy = _random_policy(seed) if policy_name == "random" else (lambda _o: np.zeros(4))
        episode = _rollout(state_session, seed, policy, state_session.task_spec.max_steps)
        assert not any(episode["success"])
        assert max(episode["lift"]) < 0.2 and max(episode["reward"]) < 0.7
