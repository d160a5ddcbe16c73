"""LIBERO tasks (libero 0.1.1 on robosuite 1.4.0) under the OpenVLA / OpenVLA-OFT / openpi evaluation protocol.

A session is one task's ``OffScreenRenderEnv`` built from its BDDL file, as openpi's and OpenVLA's LIBERO
evaluators build it (``bddl_file_name``, ``camera_heights`` = ``camera_widths`` = 256, everything else libero's
default: Panda, OSC_POSE, 20 Hz). An episode (shared REFERENCE.md 4.2):

1. ``env.seed(episode seed)`` (libero: ``np.random.seed``) then ``env.reset()``. openpi seeds once per task with 7
   ("seed seems to affect object positions even when using fixed initial state", openpi examples/libero/main.py);
   here every reset is seeded from the harness's planned episode seed, so whatever the reset draws is a pure
   function of the plan. The seed does matter: the init state holds qpos/qvel only, while the reset also
   samples the placement of fixtures (cabinets, stoves), written into the model's ``body_pos``. Measured on
   libero_goal task 1, init state 0: two seeds gave identical MuJoCo states after the settle steps but fixture
   positions 1.7 cm apart; the same seed twice gave identical models (the OpenVLA maintainer's "no effect",
   openvla#172, holds for the state, not the scene).
2. ``env.set_init_state(init_states[i])`` for episode ``i`` (``EpisodeSpec.init_index``), the task's
   ``.pruned_init`` file read with ``torch.load(weights_only=True)``; the simulator state is checked to equal it.
3. ``settle_steps`` (10) steps of the dummy action (zero motion, gripper open) "for objects to stabilize"; their
   ``done`` is ignored and they do not count toward ``max_steps`` (openpi ``num_steps_wait``).
4. Policy steps. Success is libero's ``done``, which is ``_check_success()``: the BDDL goal predicates
   (``bddl_base_domain.py::step``); the harness stops at the first success.

Observations: the task's language (``Task.language``, what openpi and OpenVLA send as the prompt; the protocol
carries it), images of ``agentview`` and ``robot0_eye_in_hand`` rotated by 180 degrees (``img[::-1, ::-1]``,
openpi ``examples/libero/main.py`` and openvla ``experiments/robot/libero/libero_utils.py::get_libero_image``,
"rotate 180 degrees to match train preprocessing"): robosuite 1.4 returns frames bottom row first (OpenGL
convention), and the LIBERO training data used by OpenVLA, OFT and openpi (modified_libero_rlds and its LeRobot
conversion) went through this same rotation, so this is the orientation their policies expect: world-up is
image-up, left and right mirrored with respect to the camera's own view. The state is openpi's 8 values:
end-effector position, end-effector orientation as an axis-angle vector, the two gripper finger joint
positions. Rendering uses libero's scene as it is (shadows and reflections on, like the training data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult, exact_env_kwargs, make_task_spec
from vla_bench.benchmarks.libero.runtime import ASSET_PACKAGES
from vla_bench.benchmarks.libero.suites import (
    ACTION_DIM,
    CAMERAS,
    CONTROL_HZ,
    STATE_DIM,
    SUITES,
)
from vla_bench.benchmarks.perturbations import perturb, perturbation_rng
from vla_bench.benchmarks.perturbations.scene import quat_multiply
from vla_bench.benchmarks.rendering import ensure_headless_gl
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco

TASK_OPTIONS = frozenset({"settle_steps", "settle_action", "image_transform", "state"})
IMAGE_TRANSFORMS = ("rotate180",)
STATES = ("eef_pos_axisangle_gripper",)
VIDEO_SIZE = 256  # frames of recordings of protocols without images
STATE_TOLERANCE = 1e-9  # set_init_state copies the numbers; any difference means the state layout changed


def parse_env_id(env_id: str) -> tuple[str, str]:
    """``"libero_spatial/TASK"`` -> (suite folder, task name), checked against the known suites."""
    suite, sep, name = env_id.partition("/")
    folders = {s.name for s in SUITES.values()}
    if not sep or suite not in folders or not name:
        raise ValueError(f"LIBERO env_id must be 'SUITE/TASK' with SUITE one of {sorted(folders)}, not {env_id!r}")
    return suite, name


class LiberoOptions(TypedDict):
    """A LIBERO task's ``env_kwargs``, checked by :func:`task_options`."""

    settle_steps: int
    settle_action: list[float]
    image_transform: str
    state: str


def task_options(task: TaskDef) -> LiberoOptions:
    """The task's ``env_kwargs``, checked: every option present, none unknown, values of the right form."""
    options = exact_env_kwargs("libero", task, TASK_OPTIONS)
    steps = options["settle_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"settle_steps must be a non-negative integer, not {steps!r}")
    action = options["settle_action"]
    if (not isinstance(action, list) or len(action) != ACTION_DIM
            or not all(isinstance(a, (int, float)) and -1.0 <= a <= 1.0 for a in action)):
        raise ValueError(f"settle_action must be {ACTION_DIM} numbers in [-1, 1], not {action!r}")
    image_transform, state = options["image_transform"], options["state"]
    if not isinstance(image_transform, str) or image_transform not in IMAGE_TRANSFORMS:
        raise ValueError(f"image_transform must be one of {IMAGE_TRANSFORMS}, not {image_transform!r}")
    if not isinstance(state, str) or state not in STATES:
        raise ValueError(f"state must be one of {STATES}, not {state!r}")
    return LiberoOptions(settle_steps=steps, settle_action=action, image_transform=image_transform, state=state)


def check_init_index(init_index: int | None, n_states: int) -> int:
    """Episode ``i`` of a task starts from initial state ``init_index`` (= ``i % n_init_states``, set by the plan)."""
    if init_index is None or not 0 <= init_index < n_states:
        raise ValueError(f"LIBERO episodes need an initial-state index in 0..{n_states - 1}, got {init_index}")
    return init_index


def quat_to_axis_angle(quat_xyzw: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit quaternion (x, y, z, w: robosuite's order) -> axis * angle, angle in [0, 2 pi); zero for no rotation.
    Same convention as robosuite's ``transform_utils.quat2axisangle`` that openpi's ``_quat2axisangle`` copies."""
    w = float(np.clip(quat_xyzw[3], -1.0, 1.0))
    sin_half = np.sqrt(1.0 - w * w)
    if np.isclose(sin_half, 0.0):
        return np.zeros(3)
    axis: NDArray[np.float64] = np.asarray(quat_xyzw[:3], dtype=np.float64) * (2.0 * np.arccos(w) / sin_half)
    return axis


def proprio_state(raw: Mapping[str, ArrayLike]) -> NDArray[np.float32]:
    """openpi's ``observation/state``: eef pos (3), eef axis-angle (3), gripper qpos (2)."""
    state: NDArray[np.float32] = np.concatenate([
        np.asarray(raw["robot0_eef_pos"], dtype=np.float64),
        quat_to_axis_angle(np.asarray(raw["robot0_eef_quat"], dtype=np.float64)),
        np.asarray(raw["robot0_gripper_qpos"], dtype=np.float64),
    ]).astype(np.float32)
    return state


def upright(frame: NDArray[np.generic]) -> NDArray[np.uint8]:
    """Rotate by 180 degrees: the orientation of the policies' LIBERO training images (module docstring)."""
    return np.ascontiguousarray(frame[::-1, ::-1], dtype=np.uint8)


class LiberoSession(EnvSession):
    """One LIBERO task's environment, reused across that task's episodes."""

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        ensure_headless_gl()  # before robosuite imports mujoco: it picks its GL backend at import
        suite, name = parse_env_id(task.env_id)
        options = task_options(task)
        obs = protocol.observation
        if protocol.init_states != "indexed" or not protocol.n_init_states:
            raise ValueError(f"{protocol.id}: LIBERO episodes start from fixed initial states; set "
                             "init_states = 'indexed' and n_init_states")
        if protocol.success.kind != "info_flag" or protocol.success.key != "success":
            raise ValueError(f"{protocol.id}: LIBERO success is the goal check; use kind 'info_flag', key 'success'")
        unknown = set(obs.cameras) - set(CAMERAS)
        if unknown:
            raise ValueError(f"unsupported cameras {sorted(unknown)}; available: {', '.join(CAMERAS)}")
        if obs.has_images and obs.image_height != obs.image_width:
            raise ValueError("LIBERO renders square images; image_height must equal image_width")
        if protocol.control_hz is not None and not np.isclose(protocol.control_hz, CONTROL_HZ):
            raise ValueError(f"control_hz {protocol.control_hz} disagrees with LIBERO's {CONTROL_HZ:g} Hz")

        from vla_bench.benchmarks.libero.files import libero_package_dir, load_init_states, prepare_libero  # noqa: PLC0415

        self.assets = prepare_libero()
        from libero.libero.envs import OffScreenRenderEnv  # noqa: PLC0415 - simulator imports stay in the worker

        libero_dir = libero_package_dir()
        bddl = libero_dir / "bddl_files" / suite / f"{name}.bddl"
        if not bddl.is_file():
            raise ValueError(f"LIBERO has no task {name!r} in {suite} (no {bddl})")
        self.init_states = load_init_states(libero_dir / "init_files" / suite / f"{name}.pruned_init")
        if protocol.n_init_states > len(self.init_states):
            raise ValueError(f"{protocol.id}: n_init_states {protocol.n_init_states} exceeds the "
                             f"{len(self.init_states)} initial states LIBERO ships for {name}")
        self._cameras = obs.cameras if obs.has_images else ()
        self._video_camera = self._cameras[0] if self._cameras else CAMERAS[0]
        size = obs.image_height if obs.has_images and obs.image_height else VIDEO_SIZE
        rendered = (*self._cameras, self._video_camera) if (obs.has_images or render) else ()
        self._env = OffScreenRenderEnv(
            bddl_file_name=str(bddl), camera_heights=size, camera_widths=size,
            use_camera_obs=bool(rendered), camera_names=list(dict.fromkeys(rendered)) or [CAMERAS[0]],
        )
        self._settle_steps = int(options["settle_steps"])
        self._settle_action = np.asarray(options["settle_action"], dtype=np.float64)
        self._has_state, self._has_images, self._language = obs.has_state, obs.has_images, obs.language
        self._render = render
        self._last_frame: NDArray[np.uint8] | None = None
        self.initial_sim_state: NDArray[np.float64] | None = None  # right after set_init_state, for inspection
        self._scene_edit: Callable[[mujoco.MjModel], None] | None = None  # edit_scene_on_reset
        self._task_spec = make_task_spec(protocol, task, (-1.0,) * ACTION_DIM, (1.0,) * ACTION_DIM,
                                         state_dim=STATE_DIM, cameras=self._cameras)

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def _observation(self, raw: Mapping[str, NDArray[np.generic]]) -> Observation:  # robosuite's observables
        observation: Observation = {}
        if self._has_state:
            observation["state"] = proprio_state(raw)
        if self._has_images:
            observation["images"] = {camera: upright(raw[f"{camera}_image"]) for camera in self._cameras}
        if self._render:
            self._last_frame = upright(raw[f"{self._video_camera}_image"])
        if self._language:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def reset(self, episode: EpisodeSpec) -> Observation:
        return self._reset(episode, None)

    # Perturbation hooks (benchmarks/perturbations). robosuite's hard reset rebuilds the model from LIBERO's XML
    # at every reset; the layer's edits go on the fields of that loaded model right after it is built (cameras
    # and lights do not change the physics), so set_init_state, the settle steps and the observables run as in
    # the clean episode and only the rendered pixels differ.
    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        sim = self._env.env.sim
        return sim.model._model, sim.data._data

    def scene_rebuilt_on_reset(self) -> bool:
        return True

    def edit_scene_on_reset(self, edit: Callable[[mujoco.MjModel], None] | None) -> bool:
        self._scene_edit = edit
        return True

    def refresh_observation(self) -> Observation:
        self._env.env.sim.forward()
        return self._observation(self._env.env._get_observations(force_update=True))

    def initial_state_fields(self) -> frozenset[str]:
        return frozenset({"object_offset", "object_shift", "object_yaw_rad"})

    def reset_perturbed(self, episode: EpisodeSpec, level: PerturbationLevel, axis: str) -> Observation:
        """The objects of interest of the task's BDDL (``obj_of_interest``) moved in xy by ``object_offset``
        (LIBERO-PRO: (0.17, -0.06)) plus U(-s, s) per coordinate, and turned about the vertical by
        ``object_yaw_rad``, right after ``set_init_state`` and before the settle steps."""
        offset = np.zeros(2)
        if level.object_offset is not None:
            offset += level.object_offset
        if level.object_shift:
            offset += level.object_shift * perturbation_rng(episode.seed, axis, "object_shift").uniform(-1.0, 1.0, 2)
        return self._reset(episode, (offset, float(level.object_yaw_rad or 0.0)))

    def _move_objects(self, offset: NDArray[np.float64], yaw: float) -> None:
        inner = self._env.env
        turn = np.asarray([np.cos(yaw / 2.0), 0.0, 0.0, np.sin(yaw / 2.0)])
        for name in inner.obj_of_interest:
            obj = inner.objects_dict.get(name)
            if obj is None or not obj.joints:
                continue  # a fixture (site or fixed body): not movable
            qpos = np.array(inner.sim.data.get_joint_qpos(obj.joints[0]), dtype=np.float64)
            qpos[:2] += offset
            qpos[3:7] = quat_multiply(turn, qpos[3:7])  # a free joint: xyz, then the (w, x, y, z) quaternion
            inner.sim.data.set_joint_qpos(obj.joints[0], qpos)
        inner.sim.forward()

    def _reset(self, episode: EpisodeSpec, move: tuple[NDArray[np.float64], float] | None) -> Observation:
        index = check_init_index(episode.init_index, len(self.init_states))
        self._env.seed(episode.seed)
        self._env.reset()
        if self._scene_edit is not None:
            self._scene_edit(self._env.env.sim.model._model)
        target = self.init_states[index]
        raw = self._env.set_init_state(target)
        state = np.asarray(self._env.get_sim_state(), dtype=np.float64)
        if state.shape != target.shape or not np.allclose(state, target, rtol=0.0, atol=STATE_TOLERANCE):
            raise RuntimeError(f"the simulator state after set_init_state differs from initial state {index} "
                               f"(shapes {state.shape} vs {target.shape}); the robosuite/libero versions changed?")
        self.initial_sim_state = state
        if move is not None:
            self._move_objects(*move)
        for _ in range(self._settle_steps):  # not counted in max_steps; success during them is ignored (openpi)
            raw, _, _, _ = self._env.step(self._settle_action)
        return self._observation(raw)

    def step(self, action: NDArray[np.float32]) -> StepResult:
        raw, reward, done, _ = self._env.step(np.asarray(action, dtype=np.float64))
        success = bool(done)  # libero: done = _check_success(), the BDDL goal predicates
        return StepResult(
            observation=self._observation(raw),
            reward=float(reward),
            terminated=success,
            truncated=False,
            success=success,
            info={"success": float(success)},
        )

    def sim_state(self) -> NDArray[np.float64]:
        """The flattened MuJoCo state (time, qpos, qvel), the layout of LIBERO's init files."""
        return np.asarray(self._env.get_sim_state(), dtype=np.float64)

    @property
    def frames_per_second(self) -> float | None:
        return CONTROL_HZ

    def render_frame(self) -> NDArray[np.uint8] | None:
        return self._last_frame if self._render else None

    def close(self) -> None:
        self._env.close()


class LiberoAdapter(BenchmarkAdapter):
    name = "libero"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return perturb(protocol, task, LiberoSession(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        versions = {name: metadata.version(name) for name in ("libero", "robosuite", "mujoco", "numpy")}
        from vla_bench.benchmarks.libero.files import find_assets, libero_package_dir  # noqa: PLC0415

        # Raises LiberoAssetsMissing (how to provide them) at worker start rather than once per episode.
        assets = find_assets(libero_dir=libero_package_dir())
        packaged = {}
        for name, _, _ in ASSET_PACKAGES:
            try:
                packaged[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return {**versions, "assets": str(assets), "asset_packages": packaged, "renderer": ensure_headless_gl()}
