"""Meta-World (metaworld 3.x, Farama "Meta-World+"): the 50 Sawyer ``-v3`` tasks, one goal per episode.

A session is one task's environment class from ``metaworld.env_dict.ALL_V3_ENVIRONMENTS``, constructed with
``reward_function_version`` from the protocol (``"v2"`` in every shipped protocol, written out although it
is metaworld's default: ``metaworld/__init__.py`` ``_init_each_env``; shared REFERENCE.md 2.1). Episodes do
not sample goals: the protocol names a goal list that metaworld itself generates and episode ``i`` uses goal
``EpisodeSpec.init_index`` (= ``i % n_init_states``) of it, set with metaworld's ``env.set_task``.

Task options (``TaskDef.env_kwargs``, all required, so the protocol hash covers every choice):

``reward_function_version``
    ``"v1"`` or ``"v2"``: passed to the environment constructor.
``goal_benchmark``, ``goal_split``, ``goal_seed``
    Where the goal list comes from: ``("MT1", "train", s)`` is ``metaworld.MT1(task, seed=s).train_tasks``,
    the 50 seeded goals metaworld's MT1/MT10/MT50 evaluation runs one episode on each (REFERENCE.md 2.3);
    ``("ML10" | "ML45", "test", s)`` are the held-out test tasks' goals of ``metaworld.ML10/ML45(seed=s)``.
``goal_observable``
    ``true``: the goal position fills the state's last 3 entries (metaworld's MT setting); ``false``: zeros
    there (metaworld's ML setting, ``partially_observable=True``).
``state``
    ``"full"``: metaworld's 39-d observation (hand xyz, gripper opening, up to two objects' position and
    quaternion, the same 18 values of the previous step, goal xyz). ``"agent_pos"``: its first 4 entries
    (hand xyz and gripper opening), LeRobot's proprioceptive ``agent_pos``, for pixel protocols that should
    not hand object and goal positions to the policy.

Images come from metaworld's own named cameras (``corner``..``corner4``, defined in its scene XML). Those
cameras are rolled upside down (their up axis points at the floor), so frames are rotated by 180 degrees,
which makes world-up image-up without mirroring the scene; a vertical flip alone would mirror it. The
session checks each camera's up axis at construction, so a changed scene XML fails loudly. Rendering is
MuJoCo's offscreen renderer with shadows and reflections off (``vla_bench.benchmarks.rendering``).

The raw metaworld environment never terminates and raises on a step past ``max_path_length`` (500); the
harness owns the step limit, and a protocol asking for more than 500 steps is refused here.
"""

from __future__ import annotations

import functools
import pickle
from collections import OrderedDict
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import (
    BenchmarkAdapter,
    EnvSession,
    StepResult,
    exact_env_kwargs,
    info_flag_success,
    make_task_spec,
)
from vla_bench.benchmarks.perturbations import perturb, perturbation_rng
from vla_bench.benchmarks.rendering import disable_shadows_and_reflections, ensure_headless_gl
from vla_bench.benchmarks.safety import SAFETY_KEY, SafetyMonitor, SafetySpec, descendants
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco
    from metaworld.sawyer_xyz_env import SawyerXYZEnv
    from metaworld.types import Task

STATE_DIMS = {"full": 39, "agent_pos": 4}  # metaworld sawyer_xyz_env.py _get_obs: 18 + 18 + 3
ACTION_DIM = 4  # xyz mocap delta (x 1/100 m) + gripper effort, Box(-1, 1) (sawyer_xyz_env.py)
# Cameras of metaworld's scene whose frames are rotated by 180 degrees to be upright (see module docstring).
# corner4 sits at (0.75, 0.075, 0.7) with corner2's orientation: the view LeRobot's MetaWorld env makes by
# moving corner2 there (lerobot src/lerobot/envs/metaworld.py), now part of metaworld's own XML.
UPSIDE_DOWN_CAMERAS = ("corner", "corner2", "corner3", "corner4")
VIDEO_SIZE = 256  # frame size of recordings of protocols without image observations
# Safety metrics (benchmarks/safety.py): the Sawyer arm and gripper against the table, the floor and, in the
# scenes that have one, the table's retaining wall, above 5 N of normal force (MT scenes have no distractors:
# every other body is the task's object or the robot's pedestal); the workspace is metaworld's
# hand_low/hand_high box, the end effector its tcp_center.
SAFETY_FORCE_N = 5.0
SAFETY_OBSTACLES = ("world", "tablelink")
OPTIONAL_SAFETY_OBSTACLES = ("RetainingWall",)  # absent from e.g. hand-insert-v3's and sweep-into-v3's scenes
ARM_JOINTS = tuple(f"right_j{i}" for i in range(7))
GOAL_SOURCES = {("MT1", "train"), ("ML10", "test"), ("ML45", "test")}
TASK_OPTIONS = frozenset({"reward_function_version", "goal_benchmark", "goal_split", "goal_seed",
                          "goal_observable", "state"})


class MetaWorldOptions(TypedDict):
    """A metaworld task's ``env_kwargs``, checked by :func:`task_options`."""

    reward_function_version: str  # "v1" or "v2"
    goal_benchmark: str  # with goal_split, one of GOAL_SOURCES
    goal_split: str
    goal_seed: int
    goal_observable: bool
    state: str  # a key of STATE_DIMS


def task_options(task: TaskDef) -> MetaWorldOptions:
    """The task's ``env_kwargs``, checked: every option present, no unknown ones, values of the right form."""
    options = exact_env_kwargs("metaworld", task, TASK_OPTIONS)
    version = options["reward_function_version"]
    if not isinstance(version, str) or version not in ("v1", "v2"):
        raise ValueError(f"reward_function_version must be 'v1' or 'v2', not {version!r}")
    benchmark, split = options["goal_benchmark"], options["goal_split"]
    if not isinstance(benchmark, str) or not isinstance(split, str) or (benchmark, split) not in GOAL_SOURCES:
        raise ValueError(f"goal_benchmark/goal_split {(benchmark, split)} is not supported; use one of "
                         f"{sorted(GOAL_SOURCES)}")
    seed, observable, state = options["goal_seed"], options["goal_observable"], options["state"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"goal_seed must be an integer, not {seed!r}")
    if not isinstance(observable, bool):
        raise ValueError(f"goal_observable must be true or false, not {observable!r}")
    if not isinstance(state, str) or state not in STATE_DIMS:
        raise ValueError(f"state must be one of {sorted(STATE_DIMS)}, not {state!r}")
    return MetaWorldOptions(reward_function_version=version, goal_benchmark=benchmark, goal_split=split,
                            goal_seed=seed, goal_observable=observable, state=state)


@functools.cache
def goal_list(env_name: str, benchmark: str, split: str, seed: int) -> tuple[Task, ...]:
    """metaworld's ``Task`` objects (one goal each) for ``env_name``, generated by metaworld; cached per process
    because every episode slot of an env worker builds its own session.

    MT1 goes through the public ``metaworld.MT1``. For ML10/ML45 test goals this calls the function their
    constructors call for the test split, ``metaworld._make_tasks(test classes, test args, _ML_OVERRIDE, seed)``,
    without first generating the 10 or 45 training tasks' goals (ML45's constructor takes ~45 s here);
    ``test_metaworld.py`` checks that the result equals ``metaworld.ML10(seed).test_tasks`` (metaworld is
    pinned to 3.1.1).
    """
    import metaworld  # noqa: PLC0415 - simulator imports stay in the env worker
    from metaworld import env_dict  # noqa: PLC0415

    if (benchmark, split) == ("MT1", "train"):
        tasks = metaworld.MT1(env_name, seed=seed).train_tasks
    else:
        classes = {"ML10": env_dict.ML10_V3, "ML45": env_dict.ML45_V3}[benchmark]["test"]
        args = {"ML10": env_dict.ML10_ARGS_KWARGS, "ML45": env_dict.ML45_ARGS_KWARGS}[benchmark]["test"]
        if env_name not in classes:
            raise ValueError(f"{env_name} is not a test task of {benchmark}; its test tasks: {', '.join(classes)}")
        tasks = metaworld._make_tasks(OrderedDict(classes), args, metaworld._ML_OVERRIDE, seed=seed)
    return tuple(task for task in tasks if task.env_name == env_name)


def _with_observability(task: Task, goal_observable: bool) -> Task:
    """The same metaworld ``Task`` (same goal vector) with ``partially_observable`` set as the protocol says."""
    from metaworld.types import Task  # noqa: PLC0415

    data = pickle.loads(task.data)  # metaworld's own task encoding, made by metaworld in this process
    data["partially_observable"] = not goal_observable
    return Task(env_name=task.env_name, data=pickle.dumps(data))


class MetaWorldSession(EnvSession):
    """One metaworld v3 environment for one task of a protocol, reused across that task's episodes."""

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        ensure_headless_gl()  # before mujoco is imported: it picks its GL backend at import
        import mujoco  # noqa: PLC0415 - simulator imports stay in the env worker
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS  # noqa: PLC0415

        if task.env_id not in ALL_V3_ENVIRONMENTS:
            raise ValueError(f"unknown metaworld environment {task.env_id!r}; expected a v3 name such as "
                             f"'pick-place-v3' (metaworld.env_dict.ALL_V3_ENVIRONMENTS)")
        options = task_options(task)
        obs = protocol.observation
        if protocol.init_states != "indexed" or not protocol.n_init_states:
            raise ValueError(f"{protocol.id}: metaworld protocols pick goals by index; set init_states = 'indexed' "
                             "and n_init_states")
        if protocol.success.kind not in ("info_flag", "none"):
            raise ValueError(f"success kind {protocol.success.kind!r} is not supported; use 'info_flag' "
                             "with key 'success'")
        unknown = set(obs.cameras) - set(UPSIDE_DOWN_CAMERAS)
        if unknown:
            raise ValueError(f"unsupported cameras {sorted(unknown)}; available: {', '.join(UPSIDE_DOWN_CAMERAS)}")

        goals = goal_list(task.env_id, options["goal_benchmark"], options["goal_split"], options["goal_seed"])
        if protocol.n_init_states > len(goals):
            raise ValueError(f"{protocol.id}: n_init_states {protocol.n_init_states} exceeds the "
                             f"{len(goals)} goals metaworld defines for {task.env_id}")
        self._goals = [_with_observability(goal, options["goal_observable"]) for goal in goals]

        env = ALL_V3_ENVIRONMENTS[task.env_id](reward_function_version=options["reward_function_version"])
        if protocol.max_steps > env.max_path_length:
            raise ValueError(f"{protocol.id}: max_steps {protocol.max_steps} exceeds metaworld's max_path_length "
                             f"{env.max_path_length} (stepping past it raises)")
        control_hz = 1.0 / env.dt  # frame_skip 5 x timestep 0.0025 s = 80 Hz (metadata render_fps)
        if protocol.control_hz is not None and not np.isclose(control_hz, protocol.control_hz):
            raise ValueError(f"control_hz {protocol.control_hz} disagrees with metaworld's {control_hz:g} Hz")
        self._env = env
        self._fps = control_hz
        self._safety = _safety_monitor(env)
        self._protocol = protocol
        self._state_dim = STATE_DIMS[options["state"]]
        self._has_state, self._has_images, self._language = obs.has_state, obs.has_images, obs.language
        self._cameras = obs.cameras if obs.has_images else ()
        self._renderer: mujoco.Renderer | None = None
        self._video_camera = self._cameras[0] if self._cameras else "corner4"
        self._last_frame: NDArray[np.uint8] | None = None
        if obs.has_images or render:
            disable_shadows_and_reflections(env.model)
            for camera in {*self._cameras, self._video_camera}:
                _check_upside_down(mujoco, env, camera)
            height = obs.image_height if obs.has_images else VIDEO_SIZE
            width = obs.image_width if obs.has_images else VIDEO_SIZE
            self._renderer = mujoco.Renderer(env.model, height=height, width=width)
        self._task_spec = make_task_spec(protocol, task, (-1.0,) * ACTION_DIM, (1.0,) * ACTION_DIM,
                                         state_dim=self._state_dim, cameras=self._cameras)

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def _render(self, camera: str) -> NDArray[np.uint8]:
        assert self._renderer is not None  # built for image protocols and recordings
        self._renderer.update_scene(self._env.data, camera=camera)
        frame = self._renderer.render()
        return np.ascontiguousarray(frame[::-1, ::-1], dtype=np.uint8)  # rotate 180 degrees: upright

    def _observation(self, raw: NDArray[np.float64]) -> Observation:
        observation: Observation = {}
        if self._has_state:
            observation["state"] = np.asarray(raw[: self._state_dim], dtype=np.float32)
        if self._has_images:
            images = {camera: self._render(camera) for camera in self._cameras}
            observation["images"] = images
            self._last_frame = images[self._video_camera]
        if self._language:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def reset(self, episode: EpisodeSpec) -> Observation:
        return self._reset(episode, None)

    def initial_state_fields(self) -> frozenset[str]:
        return frozenset({"object_shift", "object_offset"})

    def reset_perturbed(self, episode: EpisodeSpec, level: PerturbationLevel, axis: str) -> Observation:
        """Objects moved in xy: the first two entries of the task's ``rand_vec`` (where metaworld's
        ``reset_model`` reads the main object's initial position for every MT10 task) are offset, so the
        env's own bookkeeping (``obj_init_pos``, reward terms) follows the moved object."""
        offset = np.zeros(2)
        if level.object_offset is not None:
            offset += level.object_offset
        if level.object_shift:
            offset += level.object_shift * perturbation_rng(episode.seed, axis, "object_shift").uniform(-1.0, 1.0, 2)
        return self._reset(episode, offset)

    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        return self._env.model, self._env.data

    def _reset(self, episode: EpisodeSpec, object_offset: NDArray[np.float64] | None) -> Observation:
        if episode.init_index is None or not 0 <= episode.init_index < len(self._goals):
            raise ValueError(f"episode {episode.key} needs a goal index in 0..{len(self._goals) - 1}, "
                             f"got {episode.init_index}")
        self._env.set_task(self._goals[episode.init_index])
        if object_offset is not None:  # a copy: the cached goal list stays clean
            self._env._last_rand_vec = np.array(self._env._last_rand_vec, dtype=np.float64)
            self._env._last_rand_vec[:2] += object_offset
        # The goal is fixed by set_task; metaworld's reset ignores its seed argument and draws nothing once a
        # task is set. Seeding its generators anyway keeps any future randomness tied to the planned seed.
        self._env.seed(episode.seed)
        raw, _ = self._env.reset()
        self._safety.reset(self._env.tcp_center)
        self._last_frame = None
        return self._observation(raw)

    def step(self, action: NDArray[np.float32]) -> StepResult:
        raw, reward, terminated, truncated, info = self._env.step(np.asarray(action, dtype=np.float32))
        return StepResult(
            observation=self._observation(raw),
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            success=info_flag_success(self._protocol.success, info),
            info={**{key: float(value) for key, value in info.items()},
                  SAFETY_KEY: self._safety.update(self._env.tcp_center)},
        )

    @property
    def frames_per_second(self) -> float | None:
        return self._fps

    def render_frame(self) -> NDArray[np.uint8] | None:
        if self._renderer is None:
            return None
        return self._last_frame if self._last_frame is not None else self._render(self._video_camera)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()


def _safety_monitor(env: SawyerXYZEnv) -> SafetyMonitor:
    model = env.model
    robot = descendants(model, "right_arm_base_link")
    import mujoco  # noqa: PLC0415 - simulator imports stay in the env worker

    obstacles = {model.body(name).id for name in SAFETY_OBSTACLES}
    for name in OPTIONAL_SAFETY_OBSTACLES:
        body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if body_id >= 0:
            obstacles.add(body_id)
    exempt = frozenset(range(model.nbody)) - robot - obstacles
    return SafetyMonitor(model, env.data, SafetySpec(
        robot_bodies=robot, exempt_bodies=exempt, force_threshold=SAFETY_FORCE_N,
        workspace_low=tuple(float(x) for x in env.hand_low), workspace_high=tuple(float(x) for x in env.hand_high),
        joints=tuple(model.joint(name).id for name in ARM_JOINTS), control_dt=float(env.dt)))


def _check_upside_down(mujoco: ModuleType, env: SawyerXYZEnv, camera: str) -> None:
    camera_id = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if camera_id < 0:
        raise ValueError(f"metaworld's scene has no camera {camera!r}")
    up_z = float(env.data.cam_xmat[camera_id].reshape(3, 3)[2, 1])  # world z of the camera's up (y) axis
    if up_z >= 0.0:
        raise RuntimeError(f"metaworld camera {camera!r} is no longer upside down (up axis z={up_z:.2f}); "
                           "the 180-degree rotation in this adapter must be revisited")


class MetaWorldAdapter(BenchmarkAdapter):
    name = "metaworld"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return perturb(protocol, task, MetaWorldSession(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import mujoco  # noqa: PLC0415

        return {"metaworld": metadata.version("metaworld"), "mujoco": mujoco.__version__}
