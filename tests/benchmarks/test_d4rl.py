"""D4RL protocols on Gymnasium v5 / Gymnasium-Robotics: every protocol loads with D4RL's constants, every
environment family builds and resets deterministically with the documented state layout, and the success /
score logic of AntMaze, Kitchen and Maze2d works in the real environments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vla_bench
from vla_bench.benchmarks.base import EnvSession
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol, protocol_ids
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol

LOCOMOTION = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
DATASETS = ("random", "medium", "medium-replay", "medium-expert", "expert")
ANTMAZE = ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")
ADROIT = ("pen", "door", "hammer", "relocate")

# shared REFERENCE.md 1.2 (D4RL d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE), copied here by hand
REF = {
    "hopper": (-20.272305, 3234.3), "halfcheetah": (-280.178953, 12135.0), "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7), "antmaze": (0.0, 1.0), "kitchen": (0.0, 4.0),
    "pen": (96.262799, 3076.8331017826877), "door": (-56.512833, 2880.5693087298737),
    "hammer": (-274.856578, 12794.134825156867), "relocate": (-6.425911, 4233.877797728884),
    "maze2d-umaze": (23.85, 161.86), "maze2d-medium": (13.13, 277.39), "maze2d-large": (6.7, 273.99),
}
# max_episode_steps of D4RL (REFERENCE.md 1.2): locomotion 1000, antmaze 700 / 1000, kitchen 280,
# adroit pen 100 / others 200, maze2d 300 / 600 / 800
MAX_STEPS = {"locomotion": 1000, "antmaze-umaze": 700, "antmaze-medium": 1000, "antmaze-large": 1000, "kitchen": 280,
             "pen": 100, "door": 200, "hammer": 200, "relocate": 200, "maze2d-umaze": 300, "maze2d-medium": 600,
             "maze2d-large": 800}
STATE_SIZES = {"Hopper-v5": 11, "HalfCheetah-v5": 17, "Walker2d-v5": 17, "Ant-v5": 27, "AntMaze": 31,
               "FrankaKitchen-v1": 59, "AdroitHandPen-v1": 45, "AdroitHandDoor-v1": 39, "AdroitHandHammer-v1": 46,
               "AdroitHandRelocate-v1": 39, "PointMaze": 8}
STEPS = 12
# FrankaKitchen-v1 returns its constant goal dict by reference; the flattened state never holds it
pytestmark = pytest.mark.filterwarnings("ignore:.*share an object:UserWarning")


def expected_ids() -> set[str]:
    ids = {f"d4rl/{body}-{dataset}@v1" for body in LOCOMOTION for dataset in DATASETS}
    ids |= {f"d4rl/antmaze-{name}@v1" for name in ANTMAZE}
    ids |= {f"d4rl/kitchen-{name}@v1" for name in ("complete", "partial", "mixed")}
    ids |= {f"d4rl/{task}-{dataset}@v1" for task in ADROIT for dataset in ("human", "cloned", "expert")}
    ids |= {f"d4rl/maze2d-{maze}@v1" for maze in ("umaze", "medium", "large")}
    return ids


def family(protocol: Protocol) -> str:
    suite = protocol.suite
    for prefix in ("antmaze", "kitchen", "maze2d", *ADROIT):
        if suite.startswith(prefix):
            return prefix
    return "locomotion"


def one_protocol_per_environment() -> list[str]:
    """The first protocol of each distinct (env id, env kwargs): datasets of one body share the environment."""
    seen: dict[str, str] = {}
    for protocol_id in protocol_ids("d4rl"):
        task = get_protocol(protocol_id).tasks[0]
        seen.setdefault(f"{task.env_id}|{sorted(task.env_kwargs.items())!r}", protocol_id)
    return sorted(seen.values())


def state_size(env_id: str) -> int:
    return STATE_SIZES.get(env_id) or STATE_SIZES[env_id.split("_", maxsplit=1)[0]]


def session_for(protocol_id: str) -> tuple[Protocol, EnvSession]:
    protocol = get_protocol(protocol_id)
    return protocol, resolve_adapter("d4rl").make_session(protocol, protocol.tasks[0])


# ---------------------------------------------------------------------------------------------- protocols
def test_the_shipped_d4rl_protocols() -> None:
    assert set(protocol_ids("d4rl")) == expected_ids()
    assert len(one_protocol_per_environment()) == 16  # 4 bodies, 3 ant mazes, 2 kitchens, 4 hands, 3 point mazes


@pytest.mark.parametrize("protocol_id", sorted(expected_ids()))
def test_protocol_constants_are_d4rls(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    kind = family(protocol)
    task = protocol.tasks[0]
    assert protocol.adapter == "d4rl" and len(protocol.tasks) == 1
    assert protocol.observation.mode == "state"
    assert task.normalization is not None
    key = {"locomotion": task.name, "maze2d": protocol.suite}.get(kind, task.name if kind in ADROIT else kind)
    assert (task.normalization.ref_min, task.normalization.ref_max) == REF[key]
    assert "REFERENCE.md 1.2" in task.normalization.source
    steps_key = kind if kind in ("locomotion", "kitchen", *ADROIT) else "-".join(protocol.suite.split("-")[:2])
    assert protocol.max_steps == MAX_STEPS[steps_key]
    # episode counts: 100 for AntMaze as IQL/CORL; 50 elsewhere (papers: 10) so that an interval is meaningful
    assert protocol.episodes_per_task == (100 if kind == "antmaze" else 50)
    assert str(protocol.episodes_per_task) in protocol.description
    if kind == "locomotion":
        assert task.env_id == LOCOMOTION[task.name]
        assert protocol.primary_metric == "normalized_score" and not protocol.has_success
        assert "mujoco-py v2 dynamics" in protocol.description
        if task.name == "ant":
            assert task.env_kwargs == {"include_cfrc_ext_in_observation": False}
            assert "111" in protocol.description and "27" in protocol.description
    elif kind == "antmaze":
        assert protocol.primary_metric == "success_rate" and protocol.terminate_on_success
        assert protocol.success.kind == "info_flag" and protocol.success.key == "success"
        assert task.env_kwargs["continuing_task"] is False and task.env_kwargs["reward_type"] == "sparse"
    elif kind == "kitchen":
        assert task.env_id == "FrankaKitchen-v1" and protocol.primary_metric == "normalized_score"
        expected = (["microwave", "kettle", "bottom burner", "light switch"] if protocol.suite == "kitchen-mixed"
                    else ["microwave", "kettle", "light switch", "slide cabinet"])
        assert task.env_kwargs["tasks_to_complete"] == expected
    elif kind == "maze2d":
        assert task.env_id.startswith("PointMaze_") and task.env_kwargs["reward_type"] == "sparse"
        assert task.env_kwargs["continuing_task"] is True and task.env_kwargs["reset_target"] is False
    else:
        assert task.env_id == f"AdroitHand{kind.capitalize()}-v1"
        assert protocol.primary_metric == "normalized_score" and protocol.success.key == "success"


def test_the_datasets_of_one_environment_share_everything_but_their_name() -> None:
    """One protocol per dataset (D4RL's boards): the environment, limits and constants are identical."""
    for body in LOCOMOTION:
        shapes = set()
        for dataset in DATASETS:
            data = get_protocol(f"d4rl/{body}-{dataset}@v1").model_dump(mode="json")
            assert f"'{body}-{dataset}'" in data.pop("description")
            data.pop("id")
            shapes.add(repr(data))
        assert len(shapes) == 1, body


# ----------------------------------------------------------------------------------------------- sessions
def rollout(session: EnvSession, protocol: Protocol, index: int, actions: np.ndarray
            ) -> tuple[list[np.ndarray], list[tuple[float, bool, bool, bool]]]:
    states = [session.reset(episode_spec(protocol, protocol.task_names[0], index))["state"]]
    outcomes = []
    for action in actions:
        result = session.step(action)
        states.append(result.observation["state"])
        outcomes.append((result.reward, result.terminated, result.truncated, result.success))
        if result.terminated or result.truncated:
            break
    return states, outcomes


@pytest.mark.parametrize("protocol_id", one_protocol_per_environment())
def test_every_environment_builds_and_resets_deterministically(protocol_id: str) -> None:
    protocol, session = session_for(protocol_id)
    task = protocol.tasks[0]
    try:
        spec = session.task_spec
        assert spec.state_dim == state_size(task.env_id)
        assert spec.max_steps == protocol.max_steps
        actions = np.random.default_rng(0).uniform(spec.action_low, spec.action_high,
                                                   size=(STEPS, spec.action_dim)).astype(np.float32)
        first, outcomes = rollout(session, protocol, 0, actions)
        assert all(s.dtype == np.float32 and s.shape == (spec.state_dim,) and np.isfinite(s).all() for s in first)
        assert all(math.isfinite(reward) for reward, *_ in outcomes)
        other, _ = rollout(session, protocol, 1, actions)
        assert not np.array_equal(first[0], other[0]), "another seed must start elsewhere"
        again, again_outcomes = rollout(session, protocol, 0, actions)
        assert again_outcomes == outcomes
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    finally:
        session.close()
    fresh = resolve_adapter("d4rl").make_session(protocol, task)
    try:
        assert np.array_equal(fresh.reset(episode_spec(protocol, task.name, 0))["state"], first[0])
    finally:
        fresh.close()


# ------------------------------------------------------------------------------- goal-conditioned layouts
def maze_cell_xy(maze_map: list[list[object]], cell: tuple[int, int], scaling: float) -> np.ndarray:
    """Gymnasium-Robotics maze_v4.Maze.cell_rowcol_to_xy, restated: x along columns, y against rows."""
    rows, cols = len(maze_map), len(maze_map[0])
    return np.array([(cell[1] + 0.5) * scaling - cols / 2 * scaling, rows / 2 * scaling - (cell[0] + 0.5) * scaling])


def find(maze_map: list[list[object]], mark: str) -> tuple[int, int]:
    return next((i, row.index(mark)) for i, row in enumerate(maze_map) if mark in row)


@pytest.mark.parametrize("protocol_id", ["d4rl/antmaze-umaze@v1", "d4rl/antmaze-large-play@v1"])
def test_antmaze_starts_at_d4rls_start_cell_and_aims_at_its_goal_cell(protocol_id: str) -> None:
    protocol, session = session_for(protocol_id)
    maze_map = protocol.tasks[0].env_kwargs["maze_map"]
    try:
        for index in range(3):
            state = session.reset(episode_spec(protocol, "antmaze", index))["state"]
            # layout: observation (27), achieved_goal (torso x, y), desired_goal (goal x, y)
            start, goal = state[27:29], state[29:31]
            assert np.all(np.abs(start - maze_cell_xy(maze_map, find(maze_map, "r"), 4.0)) <= 1.0 + 1e-5)
            assert np.all(np.abs(goal - maze_cell_xy(maze_map, find(maze_map, "g"), 4.0)) <= 1.0 + 1e-5)
            assert state[0] > 0.3  # torso height first: observation starts at qpos[2]
    finally:
        session.close()


def test_antmaze_success_ends_the_episode_with_reward_one() -> None:
    protocol, session = session_for("d4rl/antmaze-umaze@v1")
    try:
        session.reset(episode_spec(protocol, "antmaze", 0))
        result = session.step(np.zeros(8, np.float32))
        assert (result.reward, result.success, result.terminated) == (0.0, False, False)
        env = session._env.unwrapped  # type: ignore[attr-defined]
        ant = env.ant_env
        qpos = ant.data.qpos.copy()
        qpos[:2] = env.goal
        ant.set_state(qpos, np.zeros_like(ant.data.qvel))
        result = session.step(np.zeros(8, np.float32))
        assert (result.reward, result.success, result.terminated) == (1.0, True, True)
    finally:
        session.close()


def test_maze2d_pays_for_every_step_at_the_goal_without_ending() -> None:
    protocol, session = session_for("d4rl/maze2d-umaze@v1")
    try:
        session.reset(episode_spec(protocol, "maze2d", 0))
        env = session._env.unwrapped  # type: ignore[attr-defined]
        point = env.point_env
        qpos = point.data.qpos.copy()
        qpos[:2] = env.goal
        point.set_state(qpos, np.zeros_like(point.data.qvel))
        for _ in range(3):
            result = session.step(np.zeros(2, np.float32))
            assert (result.reward, result.success, result.terminated) == (1.0, True, False)
    finally:
        session.close()


KITCHEN_GOALS = {  # Gymnasium-Robotics kitchen_env.py OBS_ELEMENT_INDICES / OBS_ELEMENT_GOALS (= D4RL's)
    "microwave": ([22], [-0.75]),
    "kettle": ([23, 24, 25, 26, 27, 28, 29], [-0.23, 0.75, 1.62, 0.99, 0.0, 0.0, -0.06]),
    "light switch": ([17, 18], [-0.69, -0.05]),
    "slide cabinet": ([19], [0.37]),
    "bottom burner": ([11, 12], [-0.88, -0.01]),
}


def kitchen_place(session: EnvSession, tasks: list[str]) -> None:
    data = session._env.unwrapped.data  # type: ignore[attr-defined]
    for name in tasks:
        indices, goal = KITCHEN_GOALS[name]
        data.qpos[indices] = goal
        data.qvel[[i - 1 for i in indices if i > 22]] = 0.0


def test_kitchen_scores_subtasks_once_and_succeeds_only_with_all_four() -> None:
    protocol, session = session_for("d4rl/kitchen-complete@v1")
    zero = np.zeros(9, np.float32)
    try:
        session.reset(episode_spec(protocol, "kitchen", 0))
        assert session.step(zero).reward == 0.0
        kitchen_place(session, ["microwave"])
        first = session.step(zero)
        assert (first.reward, first.success, first.terminated) == (1.0, False, False)
        again = session.step(zero)  # a completed subtask pays once (remove_task_when_completed)
        assert (again.reward, again.success) == (0.0, False)
        kitchen_place(session, ["microwave", "kettle", "light switch", "slide cabinet"])
        last = session.step(zero)
        assert (last.reward, last.success, last.terminated) == (3.0, True, True)
        # an episode's return is the number of subtasks done: 1 + 3 = 4 = REF_MAX -> normalized score 100
    finally:
        session.close()
    mixed, other = session_for("d4rl/kitchen-mixed@v1")
    try:
        other.reset(episode_spec(mixed, "kitchen", 0))
        kitchen_place(other, ["slide cabinet"])  # not one of kitchen-mixed's subtasks
        assert other.step(zero).reward == 0.0
        kitchen_place(other, ["bottom burner"])
        assert other.step(zero).reward == 1.0
    finally:
        other.close()


def test_pen_episodes_end_when_the_pen_drops_as_in_d4rl() -> None:
    protocol, session = session_for("d4rl/pen-human@v1")
    assert protocol.tasks[0].env_kwargs["terminate_on_pen_drop"] is True
    try:
        pen = session._env.unwrapped  # type: ignore[attr-defined]
        rng = np.random.default_rng(0)
        ended = []
        for index in range(4):
            session.reset(episode_spec(protocol, "pen", index))
            for _ in range(protocol.max_steps):
                result = session.step(rng.uniform(-1, 1, 24).astype(np.float32))
                height = pen.data.xpos[pen.obj_body_id][2]
                assert result.terminated == (height < 0.075)  # D4RL pen_v0: done when the pen drops
                if result.terminated:
                    assert result.reward < -3.0  # the drop penalty of 5 is paid on that step
                    ended.append(index)
                    break
        assert ended, "random actions drop the pen within 100 steps in most episodes"
    finally:
        session.close()


def test_the_adapter_and_the_dataset_reader_flatten_dict_observations_alike() -> None:
    from vla_bench.benchmarks.d4rl.adapter import GOAL_DICT_ORDER as ADAPTER_ORDER
    from vla_bench.benchmarks.d4rl.adapter import flatten_goal_observation
    from vla_bench.datasets import GOAL_DICT_ORDER, flatten_observation

    assert ADAPTER_ORDER == GOAL_DICT_ORDER
    for protocol_id in ("d4rl/antmaze-umaze@v1", "d4rl/kitchen-complete@v1", "d4rl/maze2d-umaze@v1"):
        _, session = session_for(protocol_id)
        try:
            raw, _ = session._env.reset(seed=3)  # type: ignore[attr-defined]
            flat = flatten_goal_observation(raw)
            assert np.array_equal(flat, flatten_observation(raw))
            assert flat.shape == (session.task_spec.state_dim,)
            stacked = {k: (np.stack([v, v]) if not isinstance(v, dict) else v) for k, v in raw.items()}
            assert np.array_equal(flatten_observation(stacked, steps=2)[1], flat)
        finally:
            session.close()


# -------------------------------------------------------------------------------------- through the harness
def test_random_policy_scores_near_zero_on_locomotion_and_fails_antmaze() -> None:
    hopper = vla_bench.evaluate("baseline:random", "d4rl/hopper-medium@v1", limit_episodes=5, envs_per_worker=5)
    assert all(record.error is None for record in hopper.records)
    assert -5.0 < hopper.scores["tasks"]["hopper"]["normalized_score"]["mean"] < 5.0  # REF_MIN: a random policy
    result = vla_bench.evaluate("baseline:random", "d4rl/antmaze-umaze@v1", limit_episodes=2, envs_per_worker=2)
    for record in result.records:
        assert record.error is None and record.success is False and record.total_return == 0.0
        assert record.length == 700 and record.truncated
    assert result.scores["tasks"]["antmaze"]["success_rate"]["mean"] == 0.0
