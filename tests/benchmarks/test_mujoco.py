"""Gymnasium MuJoCo adapter: every shipped protocol's sessions, seeding, pixels, video, and score constants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vla_bench
from vla_bench.benchmarks.base import EnvSession
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol, protocol_ids
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, Protocol

# robustness protocols (tests/benchmarks/perturbations) reuse these sessions behind the perturbation layer
MUJOCO_PROTOCOLS = [p for p in protocol_ids("mujoco") if get_protocol(p).perturbation is None]
# Gymnasium v5 default observation sizes (Ant-v5 drops the worldbody contact forces: 105, not D4RL's 111)
STATE_SIZES = {"hopper": 11, "halfcheetah": 17, "walker2d": 17, "ant": 105, "humanoid": 348}
ACTION_SIZES = {"hopper": 3, "halfcheetah": 6, "walker2d": 6, "ant": 8, "humanoid": 17}
PIXELS = (84, 84, 3)
STEPS = 15  # a short fixed action sequence is enough to expose any unseeded randomness


def _session(protocol: Protocol, task: str, *, render: bool = False) -> EnvSession:
    return resolve_adapter("mujoco").make_session(protocol, protocol.task(task), render=render)


def _same(a: Observation, b: Observation) -> bool:
    if a.keys() != b.keys():
        return False
    if "state" in a and not np.array_equal(a["state"], b["state"]):
        return False
    if "images" in a:
        return a["images"].keys() == b["images"].keys() and all(
            np.array_equal(a["images"][c], b["images"][c]) for c in a["images"])
    return True


def _rollout(session: EnvSession, protocol: Protocol, task: str, index: int, actions: np.ndarray
             ) -> tuple[list[Observation], list[tuple[float, bool, bool]]]:
    observations = [session.reset(episode_spec(protocol, task, index))]
    outcomes = []
    for action in actions:
        result = session.step(action)
        observations.append(result.observation)
        outcomes.append((result.reward, result.terminated, result.truncated))
        if result.terminated or result.truncated:
            break
    return observations, outcomes


def _check_observation(protocol: Protocol, task: str, observation: Observation) -> None:
    if protocol.observation.mode == "state":
        assert set(observation) == {"state"}
        state = observation["state"]
        assert state.dtype == np.float32
        assert state.shape == (STATE_SIZES[task],)
        assert np.all(np.isfinite(state))
    else:
        assert protocol.observation.mode == "pixels"
        assert set(observation) == {"images"}
        assert set(observation["images"]) == set(protocol.observation.cameras)
        for image in observation["images"].values():
            assert image.dtype == np.uint8
            assert image.shape == PIXELS
            assert image.flags["C_CONTIGUOUS"]


def test_the_shipped_mujoco_protocols() -> None:
    assert set(MUJOCO_PROTOCOLS) == {"mujoco/ant@v1", "mujoco/halfcheetah@v1", "mujoco/hopper-pixels@v1",
                                     "mujoco/hopper@v1", "mujoco/humanoid@v1", "mujoco/locomotion@v1",
                                     "mujoco/walker2d@v1"}
    assert set(protocol_ids("mujoco")) - set(MUJOCO_PROTOCOLS) == {"mujoco/locomotion-robust@v1"}


@pytest.mark.parametrize("protocol_id", MUJOCO_PROTOCOLS)
def test_sessions_observe_as_declared_and_are_deterministic_in_the_seed(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    assert protocol.adapter == "mujoco"
    for task in protocol.task_names:
        session = _session(protocol, task)
        try:
            spec = session.task_spec
            assert spec.name == task
            assert spec.observation_mode == protocol.observation.mode
            assert spec.max_steps == protocol.max_steps == 1000
            assert spec.action_dim == ACTION_SIZES[task]
            assert all(low < high for low, high in zip(spec.action_low, spec.action_high, strict=True))
            if protocol.observation.has_state:
                assert spec.state_dim == STATE_SIZES[task]
            else:
                assert spec.state_dim is None
                assert spec.cameras == protocol.observation.cameras

            rng = np.random.default_rng(0)
            actions = rng.uniform(spec.action_low, spec.action_high, size=(STEPS, spec.action_dim)).astype(np.float32)
            first_obs, first_out = _rollout(session, protocol, task, 0, actions)
            for observation in first_obs:
                _check_observation(protocol, task, observation)
            assert len(first_out) >= 5  # no body falls over within 5 steps of random actions
            assert all(np.isfinite(reward) for reward, _, _ in first_out)

            other_obs, _ = _rollout(session, protocol, task, 1, actions)
            assert episode_spec(protocol, task, 1).seed != episode_spec(protocol, task, 0).seed
            assert not _same(other_obs[0], first_obs[0]), "a different seed must start from a different state"

            # the same seed again, after another episode ran in this session: the identical trajectory
            again_obs, again_out = _rollout(session, protocol, task, 0, actions)
            assert again_out == first_out
            assert len(again_obs) == len(first_obs)
            assert all(_same(a, b) for a, b in zip(again_obs, first_obs, strict=True))
        finally:
            session.close()

        # and in a fresh session (another env worker): the same reset observation
        fresh = _session(protocol, task)
        try:
            assert _same(fresh.reset(episode_spec(protocol, task, 0)), first_obs[0])
        finally:
            fresh.close()


# ------------------------------------------------------------------------------------------------ pixels
def _assert_upright_hopper_view(image: np.ndarray) -> None:
    """Hopper's tracking camera looks at the hopper side-on from floor level: sky in the top band, the
    checkered floor in the bottom band, and the hopper's foot at the bottom of its orange body.
    (A flipped frame, as raw OpenGL read-back gives, has the floor on top and the foot above the body.)"""
    rgb = image.astype(np.int32)
    height = rgb.shape[0]
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    top, bottom = rgb[: height // 8], rgb[-height // 5:]
    # sky: uniform, blue-grey, every pixel bluer than red
    assert np.all(top[..., 2] > top[..., 0] + 10), "the top of the frame is not sky"
    assert float(top.mean(axis=-1).std(axis=1).max()) < 8
    # floor: a checkerboard, so most rows have strong contrast (a row on a square boundary has less); and it
    # is not sky-coloured
    contrast = bottom.mean(axis=-1).std(axis=1)
    assert float(np.median(contrast)) > 40, "the bottom of the frame is not the checkered floor"
    assert not np.all(bottom[..., 2] > bottom[..., 0] + 10)
    # the hopper: an orange body whose widest row (the foot) is at its lower end
    orange = (red > green + 20) & (red > blue + 40)
    rows = np.nonzero(orange.any(axis=1))[0]
    assert rows.size >= height // 4, "the hopper is not in view"
    widths = orange.sum(axis=1)
    foot_row = int(np.argmax(widths))
    assert widths[foot_row] >= 3 * np.median(widths[rows])
    assert foot_row > rows.min() + 0.75 * (rows.max() - rows.min()), "the foot is not at the bottom: upside down?"
    assert foot_row > height // 2


def test_pixel_observations_are_upright_unshadowed_and_not_blank(tmp_path: Path) -> None:
    protocol = get_protocol("mujoco/hopper-pixels@v1")
    assert protocol.observation.mode == "pixels"
    assert protocol.observation.cameras == ("track",)
    session = _session(protocol, "hopper")
    try:
        model = session._env.unwrapped.model  # type: ignore[attr-defined]
        assert model.nlight > 0
        assert np.all(model.light_castshadow == 0)
        assert np.all(model.mat_reflectance == 0)
        observation = session.reset(episode_spec(protocol, "hopper", 0))
        image = observation["images"]["track"]
        assert image.shape == PIXELS
        assert float(image.std()) > 20  # not blank
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
        _assert_upright_hopper_view(image)
        for _ in range(10):
            result = session.step(np.zeros(3, np.float32))
        frame = result.observation["images"]["track"]
        _assert_upright_hopper_view(frame)
        # the video frame comes from the same renderer, upright too
        recorded = session.render_frame()
        assert recorded is not None
        np.testing.assert_array_equal(recorded, frame)
    finally:
        session.close()


def test_a_state_session_renders_only_when_asked() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    plain = _session(protocol, "hopper")
    try:
        plain.reset(episode_spec(protocol, "hopper", 0))
        assert plain.render_frame() is None
    finally:
        plain.close()
    rendering = _session(protocol, "hopper", render=True)
    try:
        observation = rendering.reset(episode_spec(protocol, "hopper", 0))
        assert set(observation) == {"state"}  # frames for video do not change what the policy sees
        frame = rendering.render_frame()
        assert frame is not None
        assert frame.dtype == np.uint8
        assert frame.shape == (256, 256, 3)
        assert np.all(rendering._env.unwrapped.model.light_castshadow == 0)  # type: ignore[attr-defined]
    finally:
        rendering.close()


# ------------------------------------------------------------------------------------------------- video
def test_recording_writes_one_readable_video_with_the_reset_frame(tmp_path: Path) -> None:
    imageio = pytest.importorskip("imageio.v2")
    out = tmp_path / "run"
    result = vla_bench.evaluate("baseline:zero", "mujoco/hopper@v1", out=out, limit_episodes=2, record=1)
    assert len(result.records) == 2
    assert all(r.error is None for r in result.records)
    videos = sorted((out / "videos").iterdir())
    assert [v.name for v in videos] == ["hopper-0000.mp4"]  # record=1: the plan's first episode only
    first = next(r for r in result.records if r.episode_index == 0)
    reader = imageio.get_reader(str(videos[0]))
    try:
        frames = [np.asarray(frame) for frame in reader]
    finally:
        reader.close()
    assert first.length > 1
    assert len(frames) == first.length + 1  # the reset frame, then one frame per step
    assert frames[0].shape == (256, 256, 3)
    # upright: sky above, checkered floor below (compression moves colours a little, hence the margins)
    top, bottom = frames[0][:24].astype(np.int32), frames[0][-40:].astype(np.int32)
    assert float((top[..., 2] - top[..., 0]).mean()) > 10
    assert float(bottom.mean(axis=-1).std(axis=1).mean()) > 25
    assert not np.array_equal(frames[0], frames[-1])  # the hopper moved


# ------------------------------------------------------------------------------------- scoring constants
D4RL_CONSTANTS = {  # shared REFERENCE.md 1.2 (D4RL d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE)
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}


def test_humanoid_is_scored_by_mean_return_without_normalization() -> None:
    protocol = get_protocol("mujoco/humanoid@v1")
    assert protocol.primary_metric == "mean_return"
    assert protocol.task_names == ("humanoid",)
    assert protocol.tasks[0].env_id == "Humanoid-v5"
    assert protocol.tasks[0].normalization is None


@pytest.mark.parametrize("protocol_id", ["mujoco/hopper@v1", "mujoco/hopper-pixels@v1", "mujoco/halfcheetah@v1",
                                         "mujoco/walker2d@v1", "mujoco/ant@v1", "mujoco/locomotion@v1"])
def test_the_d4rl_bodies_use_the_d4rl_constants(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    assert protocol.primary_metric == "normalized_score"
    for task in protocol.tasks:
        assert task.env_id == {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5",
                               "ant": "Ant-v5"}[task.name]
        assert task.normalization is not None
        assert (task.normalization.ref_min, task.normalization.ref_max) == D4RL_CONSTANTS[task.name]
    if protocol_id == "mujoco/locomotion@v1":
        assert set(protocol.task_names) == set(D4RL_CONSTANTS)
