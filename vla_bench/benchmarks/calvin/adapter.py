"""CALVIN's long-horizon evaluation (LH-MTLC, REFERENCE.md 5.1) on ``calvin_env`` in a user-provided runtime.

What one chain does, as CALVIN's ``evaluate_policy.py`` (mees/calvin @fa03f01) does it:

- the environment is built from the dataset's ``validation`` folder (its ``.hydra/merged_config.yaml``, via
  calvin_env's ``get_env(..., show_gui=False)``); the folder is given by ``VLA_BENCH_CALVIN_DATASET``;
- at the chain's start the robot is reset to its neutral pose and the scene to the chain's start state
  (:func:`~vla_bench.benchmarks.calvin.sequences.start_observation`); never between subtasks;
- at each subtask's start the scene info is snapshotted (``env.get_info()``); after every step the task
  oracle (calvin_env's ``Tasks`` with ``conf/tasks/new_playtable_tasks.yaml``, the same file as calvin_models'
  rollout config) is asked ``get_task_info_for_set(start_info, current_info, {subtask})``: non-empty = done;
- 360 steps per subtask, first failure ends the chain (the chain engine's rules).

One difference: CALVIN calls ``model.reset()`` before every subtask; a vla-bench policy is reset once per chain
and sees the instruction change in its observations (the chain engine's contract).

Observation: ``state`` = ``robot_obs`` (15: tcp position 3, tcp euler 3, gripper width, 7 arm joints, gripper
action), cameras ``static`` (``rgb_static``, 200x200 in CALVIN's config) and ``gripper`` (``rgb_gripper``,
84x84) at the sizes the dataset's config renders; ``scene_obs`` (privileged object state) is not given.
Action: 7-D relative cartesian in [-1, 1] (xyz, euler xyz, gripper), scaled by calvin_env (``max_rel_pos``
0.02, ``max_rel_orn`` 0.05); the gripper is binary in calvin_env (1 open, -1 close): values >= 0 open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol as TypingProtocol
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, make_task_spec
from vla_bench.benchmarks.calvin.runtime import DATASET_ENV_VAR
from vla_bench.benchmarks.calvin.sequences import start_observation
from vla_bench.benchmarks.chain import BackendStep, ChainBackend, ChainSession
from vla_bench.benchmarks.generated_chain import GeneratedChain
from vla_bench.spec import Observation, Protocol, TaskDef, TaskSpec
from vla_bench.spec.errors import UserError

# For testing the adapter where no dataset is available: compose calvin_env's own hydra config for scene D
# (PLATFORM.md). Its rendering config is not the dataset's, so such runs are not comparable to published ones.
BUILTIN_CONFIG = "calvin_env:scene_D"
CAMERAS = {"static": "rgb_static", "gripper": "rgb_gripper"}
ACTION_DIM = 7
STATE_DIM = 15


def validation_folder(value: str | None) -> Path:
    """The dataset's validation folder from ``VLA_BENCH_CALVIN_DATASET`` (the dataset or its validation/)."""
    if not value:
        raise UserError(f"CALVIN needs its dataset's validation folder: set {DATASET_ENV_VAR} to the dataset "
                        "folder (task_D_D, task_ABC_D or task_ABCD_D, the one holding validation/) or to its "
                        f"validation/ folder; for testing without the dataset, {DATASET_ENV_VAR}={BUILTIN_CONFIG} "
                        "builds scene D from calvin_env's own config (unofficial)")
    path = Path(value).expanduser()
    for candidate in (path / "validation", path):
        if (candidate / ".hydra" / "merged_config.yaml").is_file():
            return candidate
    expected = path / "validation" / ".hydra" / "merged_config.yaml"
    raise UserError(f"{DATASET_ENV_VAR}={value!r} holds no CALVIN validation folder: expected {expected} "
                    f"(or {path / '.hydra' / 'merged_config.yaml'})")


class CalvinObservation(TypedDict):
    """calvin_env's ``PlayTableSimEnv`` observation (``get_obs``)."""

    robot_obs: NDArray[np.float64]
    scene_obs: NDArray[np.float64]
    rgb_obs: dict[str, NDArray[np.uint8]]  # "rgb_static", "rgb_gripper": those the env renders
    depth_obs: dict[str, NDArray[np.float32]]


class CalvinEnv(TypingProtocol):
    """The part of calvin_env's ``PlayTableSimEnv`` the backend uses."""

    def reset(self, robot_obs: NDArray[np.float64], scene_obs: NDArray[np.float64]) -> CalvinObservation: ...

    def step(self, action: NDArray[np.float64]) -> tuple[CalvinObservation, float, bool, dict[str, object]]: ...

    def get_info(self) -> dict[str, object]: ...

    def get_camera_obs(self) -> tuple[dict[str, NDArray[np.uint8]], dict[str, NDArray[np.float32]]]: ...

    def close(self) -> None: ...


class TaskOracle(TypingProtocol):
    """calvin_env's ``Tasks`` (conf/tasks/new_playtable_tasks.yaml): which tasks happened between two infos."""

    def get_task_info_for_set(self, start_info: Mapping[str, object], end_info: Mapping[str, object],
                              task_filter: set[str]) -> set[str]: ...


def _calvin_env_root() -> Path:
    import calvin_env  # noqa: PLC0415 - only in the CALVIN runtime

    return Path(calvin_env.__file__).resolve().parents[1]


def _build_env(config: str, cameras: tuple[str, ...]) -> CalvinEnv:
    import hydra  # noqa: PLC0415
    from omegaconf import OmegaConf  # noqa: PLC0415

    if config == BUILTIN_CONFIG:
        root = _calvin_env_root()
        from hydra import compose, initialize_config_dir  # noqa: PLC0415

        camera_group = "static_and_gripper" if cameras else "no_cameras"
        hydra.core.global_hydra.GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(root / "conf"), version_base=None):
            cfg = compose("config_data_collection", overrides=[
                f"cameras={camera_group}", "scene=calvin_scene_D", "robot=panda_longer_finger", "use_vr=false",
                f"data_path={root / 'data'}"])
        built: CalvinEnv = hydra.utils.instantiate(cfg.env, show_gui=False, use_vr=False, use_scene_info=True)
        return built
    from calvin_env.envs.play_table_env import get_env  # noqa: PLC0415

    folder = validation_folder(config)
    wanted = [CAMERAS[name] for name in cameras]
    merged = OmegaConf.load(folder / ".hydra" / "merged_config.yaml")
    missing = set(wanted) - {f"rgb_{name}" for name in merged.cameras}
    if missing:
        raise UserError(f"the dataset config {folder} renders no {sorted(missing)} camera")
    # get_env drops the cameras not named here: a state-only protocol renders nothing
    env: CalvinEnv = get_env(folder, obs_space={"rgb_obs": wanted, "depth_obs": []}, show_gui=False)
    return env


def _task_oracle() -> TaskOracle:
    import hydra  # noqa: PLC0415
    from omegaconf import OmegaConf  # noqa: PLC0415

    oracle: TaskOracle = hydra.utils.instantiate(
        OmegaConf.load(_calvin_env_root() / "conf" / "tasks" / "new_playtable_tasks.yaml"))
    return oracle


class CalvinBackend(ChainBackend):
    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        obs = protocol.observation
        unknown = set(obs.cameras) - set(CAMERAS)
        if unknown:
            raise ValueError(f"CALVIN cameras are {', '.join(CAMERAS)}; the protocol names {sorted(unknown)}")
        self._cameras = obs.cameras if obs.has_images else ()
        render_cameras = self._cameras or (("static",) if render else ())
        self._env = _build_env(os.environ.get(DATASET_ENV_VAR, ""), render_cameras)
        self._oracle = _task_oracle()
        self._render = render
        self._start_info: dict[str, object] = {}
        self._task_spec = make_task_spec(protocol, task, (-1.0,) * ACTION_DIM, (1.0,) * ACTION_DIM,
                                         state_dim=STATE_DIM, cameras=self._cameras, instruction="")

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def reset(self, chain_index: int, chain: GeneratedChain, seed: int) -> Observation:
        if chain.start is None:
            raise ValueError("CALVIN chains need a symbolic start state (generator 'calvin_multistep')")
        robot_obs, scene_obs = start_observation(chain.start)
        return self._observation(self._env.reset(robot_obs=robot_obs, scene_obs=scene_obs))

    def begin_subtask(self, subtask: str) -> None:
        self._start_info = self._env.get_info()

    def step(self, action: NDArray[np.float32]) -> BackendStep:
        command = np.asarray(action, dtype=np.float64).copy()
        command[-1] = 1.0 if command[-1] >= 0 else -1.0
        observation, reward, done, info = self._env.step(command)
        return BackendStep(observation=self._observation(observation), reward=float(reward),
                           terminated=bool(done), info=info)

    def achieved(self, subtask: str, step: BackendStep) -> bool:
        return len(self._oracle.get_task_info_for_set(self._start_info, step.info, {subtask})) > 0

    def _observation(self, raw: CalvinObservation) -> Observation:
        observation: Observation = {"state": np.asarray(raw["robot_obs"], dtype=np.float32)}
        if self._cameras:
            rgb = raw["rgb_obs"]
            observation["images"] = {name: np.ascontiguousarray(rgb[CAMERAS[name]], dtype=np.uint8)
                                     for name in self._cameras}
        return observation

    def render_frame(self) -> NDArray[np.uint8] | None:
        if not self._render:
            return None
        rgb, _ = self._env.get_camera_obs()
        return np.ascontiguousarray(rgb["rgb_static"], dtype=np.uint8)

    @property
    def frames_per_second(self) -> float:
        return 30.0  # calvin_env control_freq (conf/env/play_table_env.yaml)

    def close(self) -> None:
        self._env.close()


class CalvinAdapter(BenchmarkAdapter):
    name = "calvin"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return ChainSession(protocol, CalvinBackend(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import contextlib  # noqa: PLC0415
        from importlib import metadata  # noqa: PLC0415

        config = os.environ.get(DATASET_ENV_VAR, "")
        versions: dict[str, object] = {
            "calvin_config": config if config == BUILTIN_CONFIG else str(validation_folder(config)),
        }
        with contextlib.suppress(Exception):  # a checkout without git metadata still runs
            import git  # noqa: PLC0415

            repo = git.Repo(_calvin_env_root(), search_parent_directories=True)
            versions["calvin_env_commit"] = repo.head.commit.hexsha
        for package in ("pybullet", "numpy"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                versions[package] = metadata.version(package)
        return versions
