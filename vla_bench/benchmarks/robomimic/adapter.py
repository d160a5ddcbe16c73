"""robomimic tasks on robosuite 1.5.2, constructed as robomimic constructs its rollout environments.

robomimic (``robomimic/utils/env_utils.py`` ``create_env_from_metadata``, ``robomimic/envs/env_robosuite.py``
``EnvRobosuite``) passes the ``env_kwargs`` stored in a dataset's ``env_args`` to ``robosuite.make`` after
forcing ``has_renderer``, ``has_offscreen_renderer``, ``ignore_done=True``, ``use_object_obs=True``,
``use_camera_obs`` and ``camera_depths``. robomimic 0.3 itself cannot be imported here (its env module imports
mujoco_py), so this session does the same with robosuite directly. Every robosuite keyword the datasets fix
(robots, composite OSC_POSE controller, control_freq 20, reward_shaping false, lite_physics false, ...) is
written out in the protocol's ``env_kwargs.robosuite`` so that the protocol hash covers it; the rendering
keywords are derived from the protocol's observation spec.

Task options (``TaskDef.env_kwargs``, exactly these two):

``robosuite``
    keyword arguments of ``robosuite.make(env_id, ...)``, as in the v1.5 datasets' ``env_args``. TOML has no
    null: the controller keys those datasets store as null (``NULL_CONTROLLER_KEYS``) are left out of the
    protocol file and restored here as None (robosuite's factory requires ``interpolation`` to be present).
``state_keys``
    robomimic observation keys concatenated, in this order, into the ``state`` vector. ``object`` is robomimic's
    name for robosuite's ``object-state`` (``EnvRobosuite.get_observation``). The shipped protocols list
    robomimic's low-dim keys in sorted order, the order in which robomimic's networks concatenate them
    (``utils/file_utils.py`` ``get_shape_metadata_from_dataset`` iterates ``sorted(all_obs_keys)``, and
    ``algo/algo.py`` keeps that order for the encoder).

Seeds: robosuite 1.5 draws every reset-time random number (object sizes and poses, robot joint noise) from
one ``np.random.Generator``, ``env.rng``, which its placement samplers and objects hold by reference. Each
reset re-seeds that generator in place from the episode's seed, so an episode is a pure function of its seed
and the policy; NumPy's global RNG is not touched. Every reset is robosuite's default hard reset (the model is
rebuilt, which redraws e.g. Lift's cube size), as in robomimic's rollouts.

Images: robosuite's own camera observations (the renderer that made robomimic's image datasets), flipped
vertically to be upright (robosuite renders OpenGL-style, bottom row first; robomimic flips them the same way
in ``get_observation``). Reflections are turned off through an XML processor applied at every model rebuild:
robosuite's floor has reflectance 0.01, which hardly shows but costs a second render pass (about 2x, measured);
its lights cast no shadows already.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.benchmarks.base import (
    BenchmarkAdapter,
    EnvSession,
    StepResult,
    exact_env_kwargs,
    info_flag_success,
    make_task_spec,
)
from vla_bench.benchmarks.perturbations import perturb
from vla_bench.benchmarks.rendering import ensure_headless_gl
from vla_bench.benchmarks.robomimic.placement import scale_placements
from vla_bench.benchmarks.robomimic.safety import end_effectors, robosuite_monitor
from vla_bench.benchmarks.safety import SAFETY_KEY, SafetyMonitor
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco

TASK_OPTIONS = frozenset({"robosuite", "state_keys"})
# Set by this session from the protocol's observation spec, never by a protocol.
RENDER_KEYS = frozenset({"has_renderer", "has_offscreen_renderer", "use_camera_obs", "camera_names",
                         "camera_heights", "camera_widths", "camera_depths", "camera_segmentations",
                         "render_camera", "renderer", "renderer_config", "render_gpu_device_id"})
# robomimic's settings that change what is simulated or scored: a protocol must state each one.
REQUIRED_KEYS = frozenset({"robots", "controller_configs", "control_freq", "reward_shaping", "ignore_done",
                           "use_object_obs", "lite_physics"})
NULL_CONTROLLER_KEYS = ("position_limits", "orientation_limits", "interpolation")
OBJECT_KEY = "object"  # robomimic's key for robosuite's "object-state"
VIDEO_CAMERA = "agentview"  # every robomimic task's scene has it
VIDEO_SIZE = 256  # frame size of recordings of protocols without image observations
ROBOSUITE_LOGGER = "robosuite_logs"


def task_options(task: TaskDef) -> tuple[tuple[str, ...], dict[str, Any]]:  # Any: robosuite.make's keywords
    """The task's state keys and robosuite keywords, checked; raises ValueError naming what is wrong."""
    options = exact_env_kwargs("robomimic", task, TASK_OPTIONS)
    keys = options["state_keys"]
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"robomimic task {task.name!r}: state_keys must be a list of observation key names, "
                         f"not {keys!r}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"robomimic task {task.name!r}: state_keys lists a key twice: {list(keys)}")
    kwargs = options["robosuite"]
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"robomimic task {task.name!r}: env_kwargs.robosuite must be a table of robosuite.make "
                         f"keyword arguments, not {kwargs!r}")
    kwargs = copy.deepcopy(dict(kwargs))
    owned = sorted(RENDER_KEYS & set(kwargs))
    if owned:
        raise ValueError(f"robomimic task {task.name!r}: {owned} are set from the protocol's [observation] "
                         "section (cameras, image size); remove them from env_kwargs.robosuite")
    absent = sorted(REQUIRED_KEYS - set(kwargs))
    if absent:
        raise ValueError(f"robomimic task {task.name!r}: env_kwargs.robosuite must state {absent} "
                         "(robomimic's dataset env_args fix them)")
    if kwargs["ignore_done"] is not True:
        raise ValueError(f"robomimic task {task.name!r}: ignore_done must be true (robomimic forces it; the "
                         "harness owns the step limit)")
    kwargs["controller_configs"] = _with_null_keys(kwargs["controller_configs"], task.name)
    return tuple(keys), kwargs


def _with_null_keys(config: object, task_name: str) -> dict[str, object]:
    """robosuite's composite controller config with the keys TOML cannot hold as null restored."""
    parts = config.get("body_parts") if isinstance(config, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(parts, Mapping) or not parts:
        raise ValueError(f"robomimic task {task_name!r}: controller_configs must be a robosuite 1.5 composite "
                         "controller config with a 'body_parts' table (as in robomimic's v1.5 datasets)")
    for part in parts.values():
        if isinstance(part, dict):
            for key in NULL_CONTROLLER_KEYS:
                part.setdefault(key, None)
    return dict(config)


def state_vector(raw: Mapping[str, ArrayLike], keys: Sequence[str]) -> NDArray[np.float32]:
    """robomimic's low-dim keys of a robosuite observation, concatenated in ``keys`` order, as float32."""
    parts = [np.asarray(raw["object-state" if key == OBJECT_KEY else key], dtype=np.float64).ravel()
             for key in keys]
    state: NDArray[np.float32] = np.concatenate(parts).astype(np.float32)
    return state


def _without_reflections(xml: str) -> str:
    """robosuite XML processor: no material reflects and no light casts shadows (the rendering speed rule)."""
    root = ET.fromstring(xml)
    for material in root.iter("material"):
        material.set("reflectance", "0")
    for light in root.iter("light"):
        light.set("castshadow", "false")
    return ET.tostring(root, encoding="unicode")


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """robosuite logs setup advice at import (private macro file, optional robot models, mink IK) that does not
    apply to its use here; keep its errors."""
    logger = logging.getLogger(ROBOSUITE_LOGGER)

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    logger.addFilter(errors_only)
    try:
        yield
    finally:
        logger.removeFilter(errors_only)


class RobomimicSession(EnvSession):
    """One robosuite environment for one robomimic task of a protocol, reused across that task's episodes."""

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        ensure_headless_gl()  # before robosuite imports mujoco and picks its GL backend
        with _quiet_import():
            import robosuite  # noqa: PLC0415 - simulator imports stay in the env worker

        state_keys, kwargs = task_options(task)
        obs = protocol.observation
        if protocol.success.kind not in ("info_flag", "none"):
            raise ValueError(f"success kind {protocol.success.kind!r} is not supported; use 'info_flag' with key "
                             "'success' (robomimic's is_success()['task'], robosuite's _check_success())")
        if protocol.control_hz is not None and not np.isclose(kwargs["control_freq"], protocol.control_hz):
            raise ValueError(f"control_hz {protocol.control_hz} disagrees with control_freq {kwargs['control_freq']}")
        cameras = obs.cameras if obs.has_images else ()
        kwargs.update(has_renderer=False, has_offscreen_renderer=bool(cameras) or render,
                      use_camera_obs=bool(cameras), camera_depths=False)
        if cameras:
            kwargs.update(camera_names=list(cameras), camera_heights=obs.image_height, camera_widths=obs.image_width)
        if not obs.has_state and state_keys:
            raise ValueError(f"{protocol.id}: observation mode {obs.mode!r} gives no state; empty state_keys")
        try:
            env = robosuite.make(task.env_id, **kwargs)
        except ValueError as exc:  # e.g. an unknown camera: robosuite logs the scene's camera names, then raises
            raise ValueError(f"{protocol.id}: robosuite could not build {task.env_id!r} with cameras "
                             f"{list(cameras)}: {exc}") from exc
        self._env = env
        if kwargs["has_offscreen_renderer"]:
            env.set_xml_processor(_without_reflections)  # every reset rebuilds the model through it
        try:
            raw = self._checked_observation(robosuite.__version__, state_keys,
                                            {*cameras, *([VIDEO_CAMERA] if render and not cameras else [])})
        except Exception:
            env.close()
            raise
        low, high = env.action_spec
        self._protocol = protocol
        self._state_keys = state_keys
        self._cameras = cameras
        self._language = obs.language
        self._render = render
        self._video_camera = cameras[0] if cameras else VIDEO_CAMERA
        self._last_frame: NDArray[np.uint8] | None = None
        self._fps = float(kwargs["control_freq"])
        self._safety: SafetyMonitor | None = None
        self._task_spec = make_task_spec(protocol, task, low, high, cameras=cameras,
                                         state_dim=int(state_vector(raw, state_keys).size) if obs.has_state else None)

    def _checked_observation(self, version: str, state_keys: Sequence[str],
                             cameras: set[str]) -> dict[str, NDArray[np.generic]]:
        """The environment's current observation (for sizes), after checking what this adapter relies on."""
        env = self._env
        if not isinstance(env.rng, np.random.Generator):
            raise RuntimeError(f"robosuite {version}: env.rng is {type(env.rng).__name__}, not a numpy Generator; "
                               "the seeding in this adapter must be revisited")
        names = [env.sim.model.camera_id2name(i) for i in range(env.sim.model.ncam)]
        missing = sorted(cameras - set(names))
        if missing:
            raise ValueError(f"{type(env).__name__} has no camera {missing}; its cameras: {', '.join(names)}")
        raw: dict[str, NDArray[np.generic]] = env.observation_spec()
        unknown = [key for key in state_keys if (key if key != OBJECT_KEY else "object-state") not in raw]
        if unknown:
            known = {OBJECT_KEY if key == "object-state" else key for key, value in raw.items() if np.ndim(value) == 1}
            raise ValueError(f"state_keys {unknown} are not observations of {type(env).__name__}; available "
                             f"low-dim keys: {', '.join(sorted(known))}")
        return raw

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def _observation(self, raw: Mapping[str, NDArray[np.generic]]) -> Observation:  # robosuite's observables
        observation: Observation = {}
        if self._protocol.observation.has_state:
            observation["state"] = state_vector(raw, self._state_keys)
        if self._cameras:
            # robosuite renders bottom row first; reversing the rows makes the image upright (not mirrored)
            images = {camera: np.ascontiguousarray(raw[f"{camera}_image"][::-1], dtype=np.uint8)
                      for camera in self._cameras}
            observation["images"] = images
            self._last_frame = images[self._video_camera]
        if self._language:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def reset(self, episode: EpisodeSpec) -> Observation:
        # In place: robosuite's samplers and objects hold this very Generator.
        self._env.rng.bit_generator.state = np.random.default_rng(episode.seed).bit_generator.state
        # The hard reset replaces the MjSim. Left to the garbage collector, the old one (in a reference cycle
        # with its offscreen render context) is freed at some later step, and freeing a robosuite EGL context
        # calls eglReleaseThread, which unbinds the new context: later frames then show a stale scene (seen
        # here), and until then each old context holds ~45 MB. robosuite frees the sim first itself when its
        # renderer is "mujoco"; do the same, so the new context is made after the old one is gone.
        self._env._destroy_sim()
        raw = self._env.reset()
        self._last_frame = None
        self._safety = robosuite_monitor(self._env)  # the model was rebuilt: body ids and arrays are new
        self._safety.reset(end_effectors(self._env))
        return self._observation(raw)

    # Perturbation hooks (benchmarks/perturbations): robosuite rebuilds its model at every (hard) reset.
    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        sim = self._env.sim
        return sim.model._model, sim.data._data

    def scene_rebuilt_on_reset(self) -> bool:
        return True

    def refresh_observation(self) -> Observation:
        self._env.sim.forward()
        return self._observation(self._env._get_observations(force_update=True))

    def initial_state_fields(self) -> frozenset[str]:
        return frozenset({"init_range"})

    def reset_perturbed(self, episode: EpisodeSpec, level: PerturbationLevel, axis: str) -> Observation:
        """``reset``, then every object placed by a uniform placement sampler moved so that its offset from
        the centre of the sampler's range is multiplied by ``init_range`` (the range widened about its centre;
        the orientation robosuite drew is kept)."""
        self.reset(episode)
        scale_placements(self._env, level.init_range or 1.0)
        return self.refresh_observation()

    def step(self, action: NDArray[np.float32]) -> StepResult:
        raw, reward, _done, _info = self._env.step(np.asarray(action, dtype=np.float64))
        success = bool(self._env._check_success())  # robomimic EnvRobosuite.is_success()["task"]
        info: dict[str, object] = {"success": float(success)}
        if self._safety is not None:
            info[SAFETY_KEY] = self._safety.update(end_effectors(self._env))
        return StepResult(
            observation=self._observation(raw),
            reward=float(reward),
            terminated=False,  # robomimic's robosuite envs never end by themselves (is_done() is False)
            truncated=False,
            success=info_flag_success(self._protocol.success, info),
            info=info,
        )

    @property
    def frames_per_second(self) -> float | None:
        return self._fps

    def render_frame(self) -> NDArray[np.uint8] | None:
        if self._last_frame is not None:
            return self._last_frame
        if not self._render:
            return None
        frame = self._env.sim.render(width=VIDEO_SIZE, height=VIDEO_SIZE, camera_name=self._video_camera)
        return np.ascontiguousarray(frame[::-1], dtype=np.uint8)

    def close(self) -> None:
        self._env.close()


class RobomimicAdapter(BenchmarkAdapter):
    name = "robomimic"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return perturb(protocol, task, RobomimicSession(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import mujoco  # noqa: PLC0415

        return {"robosuite": metadata.version("robosuite"), "mujoco": mujoco.__version__}
