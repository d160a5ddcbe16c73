"""Meta-World adapter: protocol files, every task's session and goals, upright pixels, and metaworld's scripted
expert through the harness (agreeing episode by episode with metaworld's own rollout loop)."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import functools
import multiprocessing
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vla_bench
from vla_bench.benchmarks import ADAPTERS
from vla_bench.benchmarks.base import EnvSession
from vla_bench.benchmarks.metaworld.adapter import MetaWorldAdapter, goal_list
from vla_bench.benchmarks.metaworld.instructions import INSTRUCTIONS
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol, protocol_ids
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.wire import packb, unpackb

# metaworld.env_dict (REFERENCE.md 2.2), written out so that a change in metaworld shows up as a failure
ALL_TASKS = tuple(INSTRUCTIONS)
MT10 = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
        "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3")
ML10_TEST = ("drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3")
ML45_TEST = ("bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3", "door-unlock-v3")
SUITES = {  # suite -> (tasks, episodes per task, goals indexed, observation mode, state dim, image size)
    "mt10": (MT10, 50, 50, "state", 39, None),
    "mt50": (ALL_TASKS, 50, 50, "state", 39, None),
    "mt10-pixels": (MT10, 50, 50, "pixels+state", 4, 224),
    "mt50-lerobot": (ALL_TASKS, 10, 50, "pixels+state", 4, 480),
    "ml10-test": (ML10_TEST, 40, 40, "state", 39, None),
    "ml45-test": (ML45_TEST, 40, 40, "state", 39, None),
    **{f"mt1-{task.removesuffix('-v3')}": ((task,), 50, 50, "state", 39, None) for task in ALL_TASKS},
}
STEPS = 12  # a short fixed action sequence exposes any unseeded randomness
# metaworld.policies warns whenever a gain saturates an action, which the env clips to [-1, 1] by design
pytestmark = pytest.mark.filterwarnings("ignore:Constant\\(s\\) may be too high:UserWarning")


def _suite(protocol_id: str) -> str:
    return protocol_id.split("/", 1)[1].removesuffix("@v1")


# ----------------------------------------------------------------------------------------------- protocols
def test_the_shipped_metaworld_protocols() -> None:
    robustness = {"metaworld/mt10-robust@v1"}  # tested in tests/benchmarks/perturbations
    assert set(protocol_ids("metaworld")) == {f"metaworld/{suite}@v1" for suite in SUITES} | robustness
    module, _, attr = ADAPTERS["metaworld"].partition(":")
    assert (module, attr) == ("vla_bench.benchmarks.metaworld.adapter", "MetaWorldAdapter")
    assert isinstance(resolve_adapter("metaworld"), MetaWorldAdapter)
    assert set(MetaWorldAdapter().describe()) == {"metaworld", "mujoco"}


def test_task_lists_are_metaworlds() -> None:
    from metaworld import env_dict

    assert ALL_TASKS == tuple(env_dict.ALL_V3_ENVIRONMENTS) == tuple(env_dict.MT50_V3)
    assert tuple(env_dict.MT10_V3) == MT10
    assert tuple(env_dict.ML10_V3["test"]) == ML10_TEST
    assert tuple(env_dict.ML45_V3["test"]) == ML45_TEST


@pytest.mark.parametrize("protocol_id", sorted(f"metaworld/{suite}@v1" for suite in SUITES))
def test_protocol_fixes_metaworlds_evaluation_rules(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    tasks, episodes, goals, mode, state_dim, size = SUITES[_suite(protocol_id)]
    assert protocol.adapter == "metaworld"
    assert protocol.task_names == tasks
    assert (protocol.episodes_per_task, protocol.init_states, protocol.n_init_states) == (episodes, "indexed", goals)
    assert protocol.max_steps == 500  # metaworld max_path_length
    assert protocol.terminate_on_success  # metaworld's evaluation: AutoTerminateOnSuccessWrapper
    assert protocol.primary_metric == "success_rate"
    assert (protocol.success.kind, protocol.success.key, protocol.success.any_step) == ("info_flag", "success", True)
    assert protocol.success.source and protocol.sources
    assert protocol.control_hz == 80.0
    obs = protocol.observation
    assert (obs.mode, obs.language) == (mode, True)
    if size is not None:
        assert (obs.cameras, obs.image_height, obs.image_width) == (("corner4",), size, size)
    ml = _suite(protocol_id).startswith("ml")
    for task in protocol.tasks:
        assert task.env_id == task.name
        assert task.instruction == INSTRUCTIONS[task.name]
        assert task.env_kwargs == {
            "reward_function_version": "v2", "goal_seed": 42, "goal_observable": True,
            "goal_benchmark": protocol_id.split("/")[1][:4].upper() if ml else "MT1",
            "goal_split": "test" if ml else "train", "state": "full" if state_dim == 39 else "agent_pos",
        }
    text = protocol.description
    for fact in ("500 steps", "info['success']", "any step", "v2", str(episodes)):
        assert fact in text, f"{protocol_id}: the description should state {fact!r}"


def test_instructions_are_one_sentence_per_task() -> None:
    assert len(INSTRUCTIONS) == 50
    assert len(set(INSTRUCTIONS.values())) == 50
    for text in INSTRUCTIONS.values():
        assert text[0].isupper() and text.endswith(".") and text.count(".") == 1 and len(text) < 80


# ------------------------------------------------------------------------------------------------ sessions
def _session(protocol: Protocol, task: str, *, render: bool = False) -> EnvSession:
    return MetaWorldAdapter().make_session(protocol, protocol.task(task), render=render)


def _rollout(session: EnvSession, protocol: Protocol, task: str, index: int) -> dict[str, Any]:
    observation = session.reset(episode_spec(protocol, task, index))
    actions = np.random.default_rng(7).uniform(-1, 1, size=(STEPS, 4)).astype(np.float32)
    states, rewards = [observation["state"]], []
    for action in actions:
        result = session.step(action)
        states.append(result.observation["state"])
        rewards.append(result.reward)
        assert not result.terminated and not result.truncated
    return {"states": np.stack(states), "rewards": rewards, "instruction": observation["instruction"],
            "keys": sorted(observation), "goal_vector": np.array(session._env._last_rand_vec)}  # type: ignore


def _zero_policy_succeeds(session: EnvSession, protocol: Protocol, task: str) -> bool:
    session.reset(episode_spec(protocol, task, 0))
    zero = np.zeros(4, dtype=np.float32)
    return any(session.step(zero).success for _ in range(protocol.max_steps))


def _task_reports(tasks: list[str], conn: Any) -> None:
    """Runs in a forked process: one session per task, episodes 0, 1, 0 again, then 0 in a fresh session and,
    for the MT10 tasks, a 500-step episode of the zero action."""
    reports: dict[str, Any] = {}
    protocol = get_protocol("metaworld/mt50@v1")
    for task in tasks:
        try:
            start = time.perf_counter()
            session = _session(protocol, task)
            spec = session.task_spec
            first, other, again = (_rollout(session, protocol, task, i) for i in (0, 1, 0))
            session.close()
            fresh = _session(protocol, task)
            fresh_first = fresh.reset(episode_spec(protocol, task, 0))["state"]
            zero_success = _zero_policy_succeeds(fresh, protocol, task) if task in MT10 else None
            fresh.close()
            reports[task] = {"spec": spec.to_json(), "first": first, "other": other, "again": again,
                             "fresh": fresh_first, "zero_success": zero_success,
                             "seconds": time.perf_counter() - start}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails that task's test
            reports[task] = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send_bytes(packb(reports))  # msgpack-numpy, as every process boundary of vla-bench
    conn.close()


@pytest.fixture(scope="module")
def task_reports() -> dict[str, Any]:
    """Every task's session checks, computed in two forked processes (metaworld's goal generation makes a
    session cost ~1 s): the tests below then only compare the results."""
    context = multiprocessing.get_context("fork")
    halves = [list(ALL_TASKS[0::2]), list(ALL_TASKS[1::2])]
    pipes, processes = [], []
    for half in halves:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_task_reports, args=(half, send), daemon=True)
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    reports: dict[str, Any] = {}
    for receive, process in zip(pipes, processes, strict=True):
        reports.update(unpackb(receive.recv_bytes()))
        process.join(timeout=60)
    return reports


@pytest.mark.parametrize("task", ALL_TASKS)
def test_every_task_builds_and_resets_deterministically_on_its_goals(task: str,
                                                                     task_reports: dict[str, Any]) -> None:
    report = task_reports[task]
    assert "error" not in report, report.get("error")
    spec = report["spec"]
    assert (spec["name"], spec["instruction"], spec["observation_mode"]) == (task, INSTRUCTIONS[task], "state")
    assert (spec["state_dim"], spec["max_steps"], spec["control_hz"]) == (39, 500, 80.0)
    assert (tuple(spec["action_low"]), tuple(spec["action_high"])) == ((-1.0,) * 4, (1.0,) * 4)
    first, other, again = report["first"], report["other"], report["again"]
    assert first["keys"] == ["instruction", "state"]
    assert first["instruction"] == INSTRUCTIONS[task]
    states = first["states"]
    assert states.dtype == np.float32 and states.shape == (STEPS + 1, 39)
    assert np.all(np.isfinite(states)) and np.all(np.isfinite(first["rewards"]))
    assert np.any(states[0, -3:] != 0), "the goal must be visible in the state's last 3 entries"
    # the same episode again, after another goal ran in this session and in a fresh session: bitwise equal
    np.testing.assert_array_equal(again["states"], states)
    assert again["rewards"] == first["rewards"]
    np.testing.assert_array_equal(report["fresh"], states[0])
    # goal 1 is another of metaworld's task vectors (object and/or goal positions; in some tasks, e.g.
    # bin-picking or hammer, only the object moves), so the episode starts from another state
    assert not np.array_equal(other["goal_vector"], first["goal_vector"])
    assert not np.array_equal(other["states"][0], states[0])


def test_reset_needs_a_goal_index_within_the_goal_list() -> None:
    protocol = get_protocol("metaworld/mt1-reach@v1")
    session = _session(protocol, "reach-v3")
    try:
        good = episode_spec(protocol, "reach-v3", 3)
        assert good.init_index == 3
        for bad in (None, 50):
            with pytest.raises(ValueError, match="goal index"):
                session.reset(type(good)(task="reach-v3", task_index=0, episode_index=3, seed=1, init_index=bad))
        global_rng = np.random.get_state(legacy=False)["state"]["key"].copy()
        session.reset(good)
        # NumPy's global RNG is untouched
        np.testing.assert_array_equal(np.random.get_state(legacy=False)["state"]["key"], global_rng)
    finally:
        session.close()


def test_ml_test_protocols_use_the_held_out_tasks_goals_made_visible() -> None:
    protocol = get_protocol("metaworld/ml10-test@v1")
    goals = goal_list("shelf-place-v3", "ML10", "test", 42)
    assert len(goals) == 50
    assert all(pickle.loads(goal.data)["partially_observable"] for goal in goals)  # as metaworld defines them
    session = _session(protocol, "shelf-place-v3")
    try:
        observation = session.reset(episode_spec(protocol, "shelf-place-v3", 39))
        assert np.any(observation["state"][-3:] != 0)  # the protocol makes the goal visible
        assert session.task_spec.state_dim == 39
    finally:
        session.close()
    with pytest.raises(ValueError, match="not a test task of ML10"):
        goal_list("reach-v3", "ML10", "test", 42)


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["ML10", "ML45"])
def test_ml_test_goals_equal_metaworlds_benchmark_constructor(benchmark: str) -> None:
    import metaworld

    reference = getattr(metaworld, benchmark)(seed=42).test_tasks  # ML45: ~45 s
    for task in {"ML10": ML10_TEST, "ML45": ML45_TEST}[benchmark]:
        expected = [t.data for t in reference if t.env_name == task]
        assert [t.data for t in goal_list(task, benchmark, "test", 42)] == expected


# -------------------------------------------------------------------------------------------------- pixels
def _project(session: Any, camera: str, point: np.ndarray, size: int) -> tuple[float, float]:
    """(row, col) of a world point in an image whose top is world-up: the camera rolled upright by 180
    degrees, i.e. with its x and y axes negated (MuJoCo cameras look along -z)."""
    import mujoco

    env = session._env
    camera_id = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    rotation = env.data.cam_xmat[camera_id].reshape(3, 3)
    x, y, z = rotation.T @ (point - env.data.cam_xpos[camera_id])
    focal = 0.5 * size / np.tan(np.deg2rad(env.model.cam_fovy[camera_id]) / 2)
    return size / 2 + focal * (y / -z), size / 2 - focal * (x / -z)  # upright: -y is up, -x is right


def test_pixel_frames_are_upright_and_unmirrored(tmp_path: Path) -> None:
    from PIL import Image

    protocol = get_protocol("metaworld/mt10-pixels@v1")
    session = _session(protocol, "pick-place-v3", render=True)
    try:
        model = session._env.model  # type: ignore[attr-defined]
        assert np.all(model.light_castshadow == 0) and np.all(model.mat_reflectance == 0)
        observation = session.reset(episode_spec(protocol, "pick-place-v3", 0))
        assert set(observation) == {"state", "images", "instruction"}
        state, image = observation["state"], observation["images"]["corner4"]
        assert state.dtype == np.float32 and state.shape == (4,)  # agent_pos: hand xyz, gripper opening
        assert image.dtype == np.uint8 and image.shape == (224, 224, 3) and image.flags["C_CONTIGUOUS"]
        Image.fromarray(image).save(tmp_path / "pick-place-corner4.png")
        # The blue goal marker sits where the upright camera model projects the goal: a raw (upside-down)
        # frame puts it at the point mirrored through the centre, a vertically flipped one mirrors it left-right.
        rgb = image.astype(int)
        blue = (rgb[..., 2] > rgb[..., 0] + 60) & (rgb[..., 2] > rgb[..., 1] + 60)
        assert 5 < blue.sum() < 400
        found = np.argwhere(blue).mean(axis=0)
        expected = _project(session, "corner4", session._env._target_pos, 224)  # type: ignore[attr-defined]
        assert np.hypot(*(found - expected)) < 4, (found, expected)
        # and the view is not blank: the wooden table fills the lower half more than the upper half
        wood = (rgb[..., 0] > rgb[..., 2] + 30) & (rgb[..., 1] > rgb[..., 2] + 10) & (rgb[..., 0] < 200)
        assert wood[112:].mean() > wood[:112].mean() + 0.1
        result = session.step(np.array([0.0, 0.0, 1.0, 0.0], dtype=np.float32))
        frame = session.render_frame()
        assert frame is not None
        np.testing.assert_array_equal(frame, result.observation["images"]["corner4"])
    finally:
        session.close()


def test_lerobot_track_sees_480_pixels_and_agent_pos_only() -> None:
    protocol = get_protocol("metaworld/mt50-lerobot@v1")
    state_protocol = get_protocol("metaworld/mt50@v1")
    session, state_session = _session(protocol, "reach-v3"), _session(state_protocol, "reach-v3")
    try:
        observation = session.reset(episode_spec(protocol, "reach-v3", 9))
        full = state_session.reset(episode_spec(state_protocol, "reach-v3", 9))["state"]
        assert observation["images"]["corner4"].shape == (480, 480, 3)
        np.testing.assert_array_equal(observation["state"], full[:4])
    finally:
        session.close()
        state_session.close()


def test_a_state_session_renders_video_frames_only_when_asked() -> None:
    protocol = get_protocol("metaworld/mt1-reach@v1")
    plain, rendering = _session(protocol, "reach-v3"), _session(protocol, "reach-v3", render=True)
    try:
        plain.reset(episode_spec(protocol, "reach-v3", 0))
        assert plain.render_frame() is None
        observation = rendering.reset(episode_spec(protocol, "reach-v3", 0))
        assert "images" not in observation
        frame = rendering.render_frame()
        assert frame is not None and frame.shape == (256, 256, 3) and frame.std() > 10
        assert rendering.frames_per_second == 80.0
    finally:
        plain.close()
        rendering.close()


# -------------------------------------------------------------------------- the scripted expert, end to end
@pytest.fixture(scope="module")
def expert_run() -> Iterator[list[EpisodeRecord]]:
    result = vla_bench.evaluate("baseline:metaworld-scripted", "metaworld/mt10@v1", limit_episodes=2, workers=2)
    yield result.records


def test_scripted_expert_succeeds_through_the_harness(expert_run: list[EpisodeRecord]) -> None:
    assert len(expert_run) == 20
    assert all(r.error is None for r in expert_run)
    assert {r.task for r in expert_run if r.success} == set(MT10)  # every MT10 task, on goals 0 and 1
    for record in expert_run:
        # ended by the protocol's terminate_on_success at the first success (metaworld's env never terminates)
        assert record.success and not record.terminated
        assert record.success_step is not None and record.length == record.success_step < 500


@functools.cache
def _mt1(task: str) -> Any:
    import metaworld

    return metaworld.MT1(task, seed=42)


def _metaworld_own_rollout(task: str, goal: int) -> tuple[bool, int]:
    """metaworld's scripted-policy loop (tests/metaworld/envs/mujoco/sawyer_xyz/test_scripted_policies.py):
    MT1(task, seed=42), set_task, float64 observations, at most 500 steps, stop at the first success."""
    from metaworld.policies import ENV_POLICY_MAP

    benchmark = _mt1(task)
    env = benchmark.train_classes[task]()
    env.set_task(benchmark.train_tasks[goal])
    # a concrete subclass (as agents/metaworld_expert.py reads it): mypy joins the map's values to the abstract base
    policy_class: type[Any] = ENV_POLICY_MAP[task]
    policy = policy_class()
    obs, _ = env.reset()
    try:
        for step in range(1, 501):
            obs, _, _, _, info = env.step(policy.get_action(obs))
            if int(info["success"]) == 1:
                return True, step
        return False, 500
    finally:
        env.close()


@pytest.mark.parametrize("task", ["reach-v3", "pick-place-v3", "peg-insert-side-v3"])
def test_harness_episodes_match_metaworlds_own_loop(task: str, expert_run: list[EpisodeRecord]) -> None:
    for record in (r for r in expert_run if r.task == task):
        assert record.init_index is not None
        success, step = _metaworld_own_rollout(task, record.init_index)
        assert (record.success, record.success_step if record.success else record.length) == (success, step)


def test_zero_policy_runs_to_the_step_limit_through_the_harness() -> None:
    """metaworld raises on a step past 500: the harness must end the episode at 500 itself."""
    result = vla_bench.evaluate("baseline:zero", "metaworld/mt1-reach@v1", limit_episodes=2, workers=1)
    assert len(result.records) == 2
    for record in result.records:
        assert record.error is None and not record.success
        assert record.length == 500 and record.truncated and not record.terminated


def test_zero_policy_mostly_fails(task_reports: dict[str, Any]) -> None:
    outcomes = {task: task_reports[task]["zero_success"] for task in MT10}
    assert sum(outcomes.values()) <= 2, outcomes
