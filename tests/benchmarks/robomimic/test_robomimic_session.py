"""robomimic sessions on real robosuite: observation layout, seeded resets, the task check as success rule,
upright images, and a scripted lift through the harness."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import vla_bench
from vla_bench.benchmarks.robomimic.adapter import RobomimicAdapter, RobomimicSession
from vla_bench.protocols import get_protocol
from vla_bench.spec import EpisodeSpec, Observation, TaskSpec

STATE_ID = "robomimic/lift-ph@v1"
IMAGE_ID = "robomimic/lift-ph-image@v1"
TABLE_TOP = 0.8  # robosuite Lift: table_offset z
# lift-ph state: object (cube_pos 3, cube_quat 4, gripper_to_cube_pos 3), robot0_eef_pos, robot0_eef_quat,
# robot0_gripper_qpos (the protocol's state_keys, robomimic's sorted low-dim order)
CUBE_POS, CUBE_QUAT, CUBE_TO_EEF, EEF_POS, EEF_QUAT, GRIPPER = (
    slice(0, 3), slice(3, 7), slice(7, 10), slice(10, 13), slice(13, 17), slice(17, 19))


def _episode(seed: int, index: int = 0) -> EpisodeSpec:
    return EpisodeSpec(task="lift", task_index=0, episode_index=index, seed=seed)


def _make(protocol_id: str, *, render: bool = False) -> RobomimicSession:
    protocol = get_protocol(protocol_id)
    session = RobomimicAdapter().make_session(protocol, protocol.tasks[0], render=render)
    assert isinstance(session, RobomimicSession)
    return session


@pytest.fixture(scope="module")
def state_session() -> Iterator[RobomimicSession]:
    session = _make(STATE_ID)
    yield session
    session.close()


@pytest.fixture(scope="module")
def image_session() -> Iterator[RobomimicSession]:
    session = _make(IMAGE_ID)
    yield session
    session.close()


def _env(session: RobomimicSession) -> Any:
    return session._env  # the robosuite environment, to read and set the simulator state


def _cube_pos(session: RobomimicSession) -> np.ndarray:
    env = _env(session)
    return np.array(env.sim.data.body_xpos[env.cube_body_id])


def _place_cube(session: RobomimicSession, position: np.ndarray) -> None:
    env = _env(session)
    env.sim.data.set_joint_qpos(env.cube.joints[0], np.concatenate([position, [1.0, 0.0, 0.0, 0.0]]))
    env.sim.data.set_joint_qvel(env.cube.joints[0], np.zeros(6))
    env.sim.forward()


class ScriptedLift:
    """Above the cube, down, close, up: from the lift-ph state alone (OSC deltas of 0.05 m per unit action)."""

    def reset(self, task: TaskSpec) -> None:
        self.phase, self.closing = "approach", 0

    def act(self, observation: Observation) -> np.ndarray:
        state = observation["state"].astype(np.float64)
        cube, eef = state[CUBE_POS], state[EEF_POS]
        grip = -1.0
        if self.phase == "approach":
            goal = cube + np.array([0.0, 0.0, 0.06])
            if np.linalg.norm(goal - eef) < 0.01:
                self.phase = "descend"
        if self.phase == "descend":
            goal = cube
            if np.linalg.norm(goal - eef) < 0.008:
                self.phase = "close"
        if self.phase == "close":
            goal, grip = cube, 1.0
            self.closing += 1
            if self.closing > 8:
                self.phase = "lift"
        if self.phase == "lift":
            goal, grip = cube + np.array([0.0, 0.0, 0.1]), 1.0
        move = np.clip((goal - eef) / 0.05, -1.0, 1.0)
        return np.array([*move, 0.0, 0.0, 0.0, grip], dtype=np.float32)


# ------------------------------------------------------------------------------------------ state protocol
def test_task_spec_is_robomimics_action_and_state(state_session: RobomimicSession) -> None:
    spec = state_session.task_spec
    assert (spec.action_low, spec.action_high) == ((-1.0,) * 7, (1.0,) * 7)  # OSC_POSE 6 + gripper 1
    assert (spec.state_dim, spec.observation_mode, spec.cameras, spec.max_steps) == (19, "state", (), 400)
    assert state_session.frames_per_second == 20.0


def test_state_is_the_simulator_state_in_robomimics_key_order(state_session: RobomimicSession) -> None:
    observation = state_session.reset(_episode(4))
    assert set(observation) == {"state"}
    state = observation["state"]
    assert state.shape == (19,) and state.dtype == np.float32
    env = _env(state_session)
    np.testing.assert_allclose(state[CUBE_POS], _cube_pos(state_session), atol=1e-6)
    # dropped from robosuite's placement height: 1 cm above the table (z_offset) plus the cube's half size
    assert state[CUBE_POS][2] == pytest.approx(TABLE_TOP + 0.01 + env.cube.size[2], abs=1e-4)
    eef = env.sim.data.site_xpos[env.robots[0].eef_site_id["right"]]
    np.testing.assert_allclose(state[EEF_POS], eef, atol=1e-6)
    np.testing.assert_allclose(state[CUBE_TO_EEF], state[CUBE_POS] - eef, atol=1e-5)  # robosuite: cube - gripper
    for quat in (state[CUBE_QUAT], state[EEF_QUAT]):
        assert np.linalg.norm(quat) == pytest.approx(1.0, abs=1e-5)
    fingers = env.sim.data.qpos[env.robots[0]._ref_gripper_joint_pos_indexes["right"]]
    np.testing.assert_allclose(state[GRIPPER], fingers, atol=1e-6)


def test_seeded_resets_are_deterministic_and_draw_robomimics_initial_distribution(
        state_session: RobomimicSession) -> None:
    global_rng = np.random.get_state(legacy=False)["state"]["key"].copy()
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, size=(6, 7)).astype(np.float32)
    starts: list[np.ndarray] = []
    sizes: list[float] = []
    rollouts: dict[int, list[bytes]] = {}
    for seed in (0, 1, 2, 0):
        states = [state_session.reset(_episode(seed))["state"]]
        sizes.append(float(_env(state_session).cube.size[0]))
        states += [state_session.step(action).observation["state"] for action in actions]
        starts.append(states[0][CUBE_POS])
        if seed == 0:
            rollouts.setdefault(seed, []).append(b"".join(state.tobytes() for state in states))
    first, again = rollouts[0]
    assert first == again  # same seed, same actions: the same episode bitwise, after other episodes between
    # NumPy's global RNG is left alone
    np.testing.assert_array_equal(np.random.get_state(legacy=False)["state"]["key"], global_rng)
    offsets = np.array(starts[:3])[:, :2]  # robosuite Lift: cube xy ~ U(-0.03, 0.03) around the table centre
    assert len({tuple(o) for o in offsets}) == 3
    assert np.all(np.abs(offsets) <= 0.03 + 1e-6) and np.ptp(offsets, axis=0).min() > 0.005
    # the hard reset rebuilds the model, which redraws the cube's half size in [0.020, 0.022] m
    assert len(set(sizes[:3])) == 3 and all(0.020 <= size <= 0.022 for size in sizes) and sizes[3] == sizes[0]


def test_success_is_robosuites_task_check(state_session: RobomimicSession) -> None:
    state_session.reset(_episode(5))
    resting = state_session.step(np.zeros(7, dtype=np.float32))
    assert not resting.success and resting.reward == 0.0 and resting.info["success"] == 0.0
    assert resting.info["safety"]["collisions"] == 0.0  # resting in free air touches nothing
    assert not resting.terminated and not resting.truncated
    lifted = _cube_pos(state_session) + np.array([0.0, 0.0, 0.15])
    _place_cube(state_session, lifted)  # robosuite Lift succeeds once the cube is 4 cm above the table
    result = state_session.step(np.zeros(7, dtype=np.float32))
    assert result.observation["state"][CUBE_POS][2] > TABLE_TOP + 0.1  # still high after one 0.05 s step
    assert result.success and result.info["success"] == 1.0
    assert result.reward == 1.0  # robosuite's sparse reward (reward_shaping false)
    assert not result.terminated  # the harness ends the episode (terminate_on_success), not the session


def test_scripted_lift_succeeds_and_ends_at_success_through_the_harness() -> None:
    result = vla_bench.evaluate(ScriptedLift, STATE_ID, limit_episodes=1, envs_per_worker=1)
    assert len(result.records) == 1
    for record in result.records:
        assert record.error is None and record.success
        assert record.success_step is not None and record.length == record.success_step < 100
        assert record.total_return == 1.0  # one rewarded step: the episode ended at the first success
    assert result.scores["tasks"]["lift"]["success_rate"]["mean"] == 1.0


# ------------------------------------------------------------------------------------------ image protocol
def _project(env: Any, camera: str, point: np.ndarray, size: int) -> tuple[float, float]:
    """(row, col) of a world point in an upright image of a MuJoCo camera (looks along -z, y up)."""
    model, data = env.sim.model._model, env.sim.data._data
    cam = model.camera(camera).id
    local = data.cam_xmat[cam].reshape(3, 3).T @ (point - data.cam_xpos[cam])
    focal = 0.5 * size / np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
    depth = -local[2]
    return size / 2 - focal * local[1] / depth, size / 2 + focal * local[0] / depth


def test_image_observation_layout(image_session: RobomimicSession) -> None:
    spec = image_session.task_spec
    assert (spec.state_dim, spec.cameras, spec.observation_mode) == (9, ("agentview", "robot0_eye_in_hand"),
                                                                    "pixels+state")
    observation = image_session.reset(_episode(2))
    assert set(observation) == {"state", "images"}
    state = observation["state"]
    assert state.shape == (9,) and state.dtype == np.float32  # robot0_eef_pos, _eef_quat, _gripper_qpos
    env = _env(image_session)
    np.testing.assert_allclose(state[0:3], env.sim.data.site_xpos[env.robots[0].eef_site_id["right"]], atol=1e-6)
    for image in observation["images"].values():
        assert image.shape == (84, 84, 3) and image.dtype == np.uint8 and image.std() > 10
    assert float(env.sim.model._model.mat_reflectance.max()) == 0.0  # reflections off after the rebuild
    again = image_session.reset(_episode(2))  # the same seed renders the same pixels
    for camera, image in observation["images"].items():
        np.testing.assert_array_equal(again["images"][camera], image)


def test_images_are_upright_and_not_mirrored(image_session: RobomimicSession) -> None:
    image_session.reset(_episode(3))
    # The cube near the table's front-left corner as agentview sees it: far from the image centre, so a
    # vertical flip or a mirror would move it by tens of pixels.
    _place_cube(image_session, np.array([0.25, -0.2, TABLE_TOP + 0.021]))
    result = image_session.step(np.zeros(7, dtype=np.float32))
    image = result.observation["images"]["agentview"].astype(int)
    red = (image[..., 0] > 90) & (image[..., 0] > image[..., 1] + 50) & (image[..., 0] > image[..., 2] + 50)
    assert red.sum() >= 4
    rows, cols = np.nonzero(red)
    row, col = _project(_env(image_session), "agentview", _cube_pos(image_session), 84)
    assert abs(rows.mean() - row) < 3 and abs(cols.mean() - col) < 3
    assert row > 52 and abs(col - 42) > 10  # the check is not trivial: the cube is low and to one side
    frame = image_session.render_frame()
    assert frame is not None
    np.testing.assert_array_equal(frame, result.observation["images"]["agentview"])


@pytest.mark.slow
def test_state_protocol_renders_video_frames_on_request() -> None:
    session = _make(STATE_ID, render=True)
    try:
        session.reset(_episode(1))
        frame = session.render_frame()
        assert frame is not None and frame.shape == (256, 256, 3) and frame.dtype == np.uint8 and frame.std() > 10
    finally:
        session.close()


def test_state_session_without_render_gives_no_frame(state_session: RobomimicSession) -> None:
    assert state_session.render_frame() is None


# ------------------------------------------------------------------------------------- every task (slow)
# robomimic's low-dim sizes: object-state 10 / 14 / 14 / 41 / 44, plus 9 per robot (eef_pos, eef_quat, gripper)
TASK_DIMS = {"lift-ph": (19, 7), "can-ph": (23, 7), "square-ph": (23, 7), "transport-ph": (59, 14),
             "tool-hang-ph": (53, 7)}


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(TASK_DIMS))
def test_every_task_builds_steps_and_reports_no_success_at_rest(suite: str) -> None:
    session = _make(f"robomimic/{suite}@v1")
    try:
        state_dim, action_dim = TASK_DIMS[suite]
        assert (session.task_spec.state_dim, session.task_spec.action_dim) == (state_dim, action_dim)
        first = session.reset(EpisodeSpec(task=session.task_spec.name, task_index=0, episode_index=0, seed=7))
        assert first["state"].shape == (state_dim,) and np.all(np.isfinite(first["state"]))
        for _ in range(5):
            result = session.step(np.zeros(action_dim, dtype=np.float32))
            assert not result.success and result.reward == 0.0
        again = session.reset(EpisodeSpec(task=session.task_spec.name, task_index=0, episode_index=0, seed=7))
        assert again["state"].tobytes() == first["state"].tobytes()
    finally:
        session.close()


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["transport-ph-image", "tool-hang-ph-image"])
def test_image_protocols_of_other_camera_sets_build(suite: str) -> None:
    session = _make(f"robomimic/{suite}@v1")
    try:
        protocol = get_protocol(f"robomimic/{suite}@v1")
        observation = session.reset(EpisodeSpec(task=session.task_spec.name, task_index=0, episode_index=0, seed=0))
        size = protocol.observation.image_height
        assert set(observation["images"]) == set(protocol.observation.cameras)
        for image in observation["images"].values():
            assert image.shape == (size, size, 3) and image.dtype == np.uint8 and image.std() > 5
    finally:
        session.close()


@pytest.mark.slow
def test_unknown_camera_or_state_key_is_refused_with_the_names() -> None:
    image = get_protocol(IMAGE_ID)
    wrong_camera = image.model_copy(update={"observation": image.observation.model_copy(
        update={"cameras": ("agentview", "shouldercamera0")})})
    with pytest.raises(ValueError, match=r"could not build 'Lift' with cameras \['agentview', 'shouldercamera0'\]"):
        RobomimicAdapter().make_session(wrong_camera, wrong_camera.tasks[0])
    state = get_protocol(STATE_ID)
    options = dict(state.tasks[0].env_kwargs) | {"state_keys": ["object", "robot1_eef_pos"]}
    wrong_key = state.model_copy(update={"tasks": (state.tasks[0].model_copy(update={"env_kwargs": options}),)})
    with pytest.raises(ValueError, match=r"state_keys \[.robot1_eef_pos.\] are not observations of Lift; "
                                         r"available low-dim keys: .*robot0_eef_pos"):
        RobomimicAdapter().make_session(wrong_key, wrong_key.tasks[0])
