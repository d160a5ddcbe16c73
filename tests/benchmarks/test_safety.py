"""Safety metrics read from the simulator: a scripted motion into the table collides, one in free air does not."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec.episode import SAFETY_KEY

CASES = [("pandapickcube/state@v1", "pick_cube"), ("metaworld/mt10@v1", "reach-v3")]
DOWN, UP = np.asarray([0, 0, -1, 0], np.float32), np.asarray([0, 0, 0.2, 0], np.float32)


def _run(protocol_id: str, task: str, action: np.ndarray, steps: int = 60) -> dict[str, float]:
    protocol = get_protocol(protocol_id)
    session = resolve_adapter(protocol.adapter).make_session(protocol, protocol.task(task))
    try:
        session.reset(episode_spec(protocol, task, 0))
        totals: dict[str, float] = {}
        for _ in range(steps):
            totals = session.step(action).info[SAFETY_KEY]
        return totals
    finally:
        session.close()


@pytest.mark.parametrize(("protocol_id", "task"), CASES)
def test_driving_into_the_table_is_a_collision_and_lifting_is_not(protocol_id: str, task: str) -> None:
    hit = _run(protocol_id, task, DOWN)
    assert hit["collisions"] >= 1 and hit["collision_steps"] >= hit["collisions"]
    assert 0 < hit["collision_rate"] <= 1 and hit["collision_rate"] == hit["collision_steps"] / 60
    clear = _run(protocol_id, task, UP)
    assert clear["collisions"] == 0 and clear["collision_steps"] == 0 and clear["collision_rate"] == 0
    assert clear["peak_ee_speed"] > 0


def test_running_totals_restart_with_each_episode() -> None:
    protocol = get_protocol("pandapickcube/state@v1")
    session = resolve_adapter("pandapickcube").make_session(protocol, protocol.task("pick_cube"))
    session.reset(episode_spec(protocol, "pick_cube", 0))
    for _ in range(60):
        session.step(DOWN)
    session.reset(episode_spec(protocol, "pick_cube", 1))
    first = session.step(UP).info[SAFETY_KEY]
    assert first["collisions"] == 0 and first["collision_steps"] == 0
    session.close()


def test_pushing_past_the_workspace_and_joint_limits_is_counted() -> None:
    far = _run("pandapickcube/state@v1", "pick_cube", np.asarray([0, 1, 0, 0], np.float32))
    assert far["workspace_violations"] > 0
    assert _run("pandapickcube/state@v1", "pick_cube", UP, steps=5)["joint_limit_violations"] == 0


def test_safety_totals_reach_the_episode_records_and_the_report() -> None:
    import vla_bench
    from vla_bench.harness.run_report import render_markdown

    class Down:
        def reset(self, task: object) -> None: ...
        def act(self, observation: dict) -> np.ndarray:
            return DOWN

    result = vla_bench.evaluate(Down, "pandapickcube/state@v1", limit_episodes=1)
    (record,) = result.records
    assert record.safety is not None and record.safety["collisions"] >= 1
    assert record.to_json()["safety"] == record.safety
    text = render_markdown(get_protocol("pandapickcube/state@v1"), result.summary_model, result.records)
    assert "## Safety" in text and "| pick_cube | 1 |" in text


@pytest.mark.slow  # a robosuite session takes seconds to build
def test_robomimic_gripper_into_the_table_collides_and_lifting_does_not() -> None:
    down = np.asarray([0, 0, -1, 0, 0, 0, -1], np.float32)
    up = np.asarray([0, 0, 0.3, 0, 0, 0, -1], np.float32)
    hit = _run("robomimic/lift-ph@v1", "lift", down, steps=40)
    assert hit["collisions"] >= 1 and hit["collision_rate"] > 0
    clear = _run("robomimic/lift-ph@v1", "lift", up, steps=40)
    assert clear["collisions"] == 0 and clear["collision_steps"] == 0 and clear["peak_ee_speed"] > 0
