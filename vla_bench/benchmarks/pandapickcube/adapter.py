"""serl's PandaPickCube-v0 on gym-hil's MuJoCo port, made to behave like serl.

gym-hil (PyPI) ships serl's scene, robot XML and operational-space controller, but changes the task around
them: control_dt 0.1 s, a lower home pose, a 7-D unscaled action, a narrower block range sampled only on
request, a sparse 0.1 m reward and termination on success or out-of-bounds. This session restores serl's
definitions (rail-berkeley/serl ``franka_sim/franka_sim/envs/panda_pick_gym_env.py``, shared REFERENCE.md 7.1)
and drives only gym-hil's simulator and controller. The protocol descriptions list every difference.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult, make_task_spec
from vla_bench.benchmarks.perturbations import perturb
from vla_bench.benchmarks.rendering import disable_shadows_and_reflections, ensure_headless_gl
from vla_bench.benchmarks.safety import SAFETY_KEY, SafetyMonitor, SafetySpec, descendants
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco

# serl panda_pick_gym_env.py: _PANDA_HOME (gym-hil's pick env uses a lower pose beside its default block).
SERL_HOME = np.asarray((0.0, -0.785, 0.0, -2.35, 0.0, 1.57, np.pi / 4))
# serl panda_pick_gym_env.py: _SAMPLING_BOUNDS, block xy ~ U(low, high) (gym-hil: [[0.3,-0.15],[0.5,0.15]]).
SERL_BLOCK_XY_BOUNDS = np.asarray([[0.25, -0.25], [0.55, 0.25]])
# serl action_scale[0]: metres of mocap motion per unit action; gym-hil adds the xyz action unscaled.
SERL_XYZ_SCALE = 0.1
# serl _compute_reward: r_lift saturates at _z_success = z_init + 0.2 m.
SERL_FULL_LIFT = 0.2
# Observation camera -> MuJoCo camera. serl renders camera ids (0, 1); in this XML id 1 is "handcam_depth"
# (an ordinary RGB camera despite its name). gym-hil renders "handcam_rgb" (id 2) instead.
CAMERAS = {"front": "front", "wrist": "handcam_depth"}
VIDEO_SIZE = 256  # frame size for recordings of state-only protocols
GYM_HIL_ACTION_DIM = 7  # x, y, z, rx, ry, rz (ignored by gym-hil), gripper
STATE_DIM = 10  # serl's state: block_pos 3 + gripper_pos 1 + tcp_pos 3 + tcp_vel 3
ROBOT_STATE_DIM = 7  # serl's vision state has no block_pos
# Safety metrics (benchmarks/safety.py): the arm from link1 down (link0 is bolted to the floor) and the gripper
# against anything but the block; 5 N of normal force is a collision; the workspace is serl's mocap box.
SAFETY_FORCE_N = 5.0
SERL_WORKSPACE = ((0.2, -0.3, 0.0), (0.6, 0.3, 0.5))  # serl panda_pick_gym_env.py _CARTESIAN_BOUNDS
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))


class PandaPickCubeSession(EnvSession):
    """One gym-hil ``PandaPickCubeGymEnv`` under a protocol.

    Reset: gym-hil's reset (``mj_resetData``, arm to the home pose, which is set to serl's), then the block
    is moved to serl's range with ``np.random.RandomState(episode.seed)``: the same draw serl's global
    ``np.random.uniform`` would make after ``np.random.seed(seed)``, without touching the global RNG.
    Step: serl's 4-D action is mapped to gym-hil's 7-D one; reward, success and observations are computed
    here from the simulator, so gym-hil's reward, ``info`` and ``terminated`` are ignored. ``terminated``
    is always False: serl ends episodes only by its time limit, and gym-hil's out-of-bounds check uses its
    own narrower block range (it would fire at reset for |y| > 0.2). The harness owns the step limit.
    """

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        ensure_headless_gl()  # gym-hil builds a renderer in its constructor, even for state observations
        import gymnasium as gym  # noqa: PLC0415 - simulator imports stay in the env worker
        import mujoco  # noqa: PLC0415
        from gym_hil.envs.panda_pick_gym_env import PandaPickCubeGymEnv  # noqa: PLC0415
        from gym_hil.mujoco_gym_env import GymRenderingSpec  # noqa: PLC0415

        obs = protocol.observation
        unknown = set(obs.cameras) - set(CAMERAS)
        if unknown:
            raise ValueError(f"unknown cameras {sorted(unknown)}; available: {sorted(CAMERAS)}")
        if protocol.success.kind not in ("lift_height", "none"):
            raise ValueError(f"success kind {protocol.success.kind!r} is not supported; use 'lift_height'")
        height = obs.image_height or VIDEO_SIZE
        width = obs.image_width or VIDEO_SIZE
        kwargs: dict[str, Any] = dict(task.env_kwargs)  # forwarded to gymnasium.make
        # Forced: the session renders, places the block and computes the reward itself.
        kwargs.update(
            image_obs=False,
            random_block_position=False,
            reward_type="dense",
            render_spec=GymRenderingSpec(height=height, width=width),
        )
        env = gym.make(task.env_id, disable_env_checker=True, **kwargs).unwrapped
        if not isinstance(env, PandaPickCubeGymEnv):
            raise ValueError(f"{task.env_id} makes {type(env).__name__}, not gym-hil's PandaPickCubeGymEnv")
        self._env = env
        if self._env.action_space.shape != (GYM_HIL_ACTION_DIM,):
            raise RuntimeError(f"gym-hil action space changed: {self._env.action_space}; adapter expects 7-D")
        self._env._home_position = SERL_HOME  # read by gym-hil's reset_robot() and its controller's nullspace
        control_hz = 1.0 / self._env.control_dt
        if protocol.control_hz is not None and not np.isclose(control_hz, protocol.control_hz):
            raise ValueError(f"control_hz {protocol.control_hz} disagrees with control_dt {self._env.control_dt}")

        self._mujoco = mujoco
        self._model = self._env.model
        self._data = self._env.data
        self._protocol = protocol
        self._renderer: mujoco.Renderer | None = None
        if obs.has_images or render:
            disable_shadows_and_reflections(self._model)
            self._renderer = mujoco.Renderer(self._model, height=height, width=width)
        self._block_half_height = float(self._model.geom("block").size[2])
        self._gripper_ctrl_id = self._model.actuator("fingers_actuator").id
        self._z_init = 0.0
        self._safety = SafetyMonitor(self._model, self._data, SafetySpec(
            robot_bodies=descendants(self._model, "link1"),
            exempt_bodies=frozenset({self._model.body("block").id}),
            force_threshold=SAFETY_FORCE_N, workspace_low=SERL_WORKSPACE[0], workspace_high=SERL_WORKSPACE[1],
            joints=tuple(self._model.joint(name).id for name in ARM_JOINTS), control_dt=self._env.control_dt))
        self._last_front: NDArray[np.uint8] | None = None
        self._task_spec = make_task_spec(protocol, task, (-1.0,) * 4, (1.0,) * 4,  # serl: Box(-1, 1, (4,)): xyz + grip
                                         state_dim=ROBOT_STATE_DIM if obs.has_images else STATE_DIM,
                                         cameras=obs.cameras)

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    # Simulator readings, as serl's _compute_observation / _compute_reward take them.

    def _block_pos(self) -> NDArray[np.float64]:
        return np.array(self._data.sensor("block_pos").data)

    def _tcp_pos(self) -> NDArray[np.float64]:
        return np.array(self._data.sensor("2f85/pinch_pos").data)

    def _state(self) -> NDArray[np.float32]:
        """serl's state flattened in gym's Dict key order (sorted), as serl's SERLObsWrapper and RLinf do:
        [block_pos(3)], gripper_pos(1), tcp_pos(3), tcp_vel(3). block_pos only without images, as in serl."""
        gripper = [self._data.ctrl[self._gripper_ctrl_id] / 255.0]  # serl: commanded closure in [0, 1]
        parts = [gripper, self._tcp_pos(), self._data.sensor("2f85/pinch_vel").data]
        if not self._protocol.observation.has_images:
            parts.insert(0, self._block_pos())
        state: NDArray[np.float32] = np.concatenate(parts).astype(np.float32)
        return state

    def _render(self, camera: str) -> NDArray[np.uint8]:
        assert self._renderer is not None  # built for image protocols and recordings
        self._renderer.update_scene(self._data, camera=CAMERAS[camera])
        return np.ascontiguousarray(self._renderer.render(), dtype=np.uint8)

    def _observation(self) -> Observation:
        spec = self._protocol.observation
        observation: Observation = {}
        if spec.has_state:
            observation["state"] = self._state()
        if spec.has_images:
            observation["images"] = {camera: self._render(camera) for camera in spec.cameras}
            self._last_front = observation["images"].get("front")
        else:
            self._last_front = None
        if spec.language:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def reset(self, episode: EpisodeSpec) -> Observation:
        return self._reset(episode, 1.0)

    def initial_state_fields(self) -> frozenset[str]:
        return frozenset({"init_range"})

    def reset_perturbed(self, episode: EpisodeSpec, level: PerturbationLevel, axis: str) -> Observation:
        """The block's sampling range scaled by ``init_range`` about its centre: the clean draw's offset from
        the centre is multiplied by it, so each episode's block moves outward along its own direction."""
        return self._reset(episode, level.init_range or 1.0)

    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        return self._model, self._data

    def scene_cameras(self) -> dict[str, str]:
        return {camera: CAMERAS[camera] for camera in self._task_spec.cameras}

    def _reset(self, episode: EpisodeSpec, range_scale: float) -> Observation:
        self._env.reset(seed=episode.seed)  # seeds gym-hil's np_random, which its reset does not use
        block_xy = np.random.RandomState(episode.seed).uniform(*SERL_BLOCK_XY_BOUNDS)
        if range_scale != 1.0:
            centre = SERL_BLOCK_XY_BOUNDS.mean(axis=0)
            block_xy = centre + (block_xy - centre) * range_scale
        self._data.jnt("block").qpos[:3] = (*block_xy, self._block_half_height)
        self._mujoco.mj_forward(self._model, self._data)
        self._z_init = float(self._block_pos()[2])
        self._safety.reset(self._tcp_pos())
        return self._observation()

    def step(self, action: NDArray[np.float32]) -> StepResult:
        action = np.asarray(action, dtype=np.float32)
        hil_action = np.zeros(GYM_HIL_ACTION_DIM, dtype=np.float32)
        hil_action[:3] = action[:3] * SERL_XYZ_SCALE
        hil_action[-1] = action[3]  # serl action_scale[1] = 1: change of closure in [0, 1] per step
        self._env.step(hil_action)
        block, tcp = self._block_pos(), self._tcp_pos()
        lift = float(block[2] - self._z_init)
        # serl's dense reward (REFERENCE.md 7.1): reach term + lift term saturating at 0.2 m.
        reward = 0.3 * np.exp(-20.0 * np.linalg.norm(block - tcp)) + 0.7 * np.clip(lift / SERL_FULL_LIFT, 0.0, 1.0)
        rule = self._protocol.success
        success = rule.kind == "lift_height" and rule.threshold is not None and lift >= rule.threshold
        return StepResult(
            observation=self._observation(),
            reward=float(reward),
            terminated=False,
            truncated=False,
            success=bool(success),
            info={"lift_height": lift, SAFETY_KEY: self._safety.update(tcp)},
        )

    def render_frame(self) -> NDArray[np.uint8] | None:
        if self._renderer is None:
            return None
        return self._last_front if self._last_front is not None else self._render("front")

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()


class PandaPickCubeAdapter(BenchmarkAdapter):
    name = "pandapickcube"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return perturb(protocol, task, PandaPickCubeSession(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import mujoco  # noqa: PLC0415

        return {"gym-hil": metadata.version("gym-hil"), "mujoco": mujoco.__version__}
