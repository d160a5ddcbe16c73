"""``baseline:metaworld-scripted``: the registry entry, the task-name mapping, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.agents import load_agent
from vla_bench.agents.metaworld_expert import MetaWorldScriptedPolicy, policy_class_for
from vla_bench.spec import TaskSpec

pytest.importorskip("metaworld")


def _task(name: str, state_dim: int | None = 39) -> TaskSpec:
    return TaskSpec(name=name, instruction="", action_low=(-1.0,) * 4, action_high=(1.0,) * 4, max_steps=500,
                    observation_mode="state", state_dim=state_dim)


def test_registered_as_a_baseline() -> None:
    agent = load_agent("baseline:metaworld-scripted")
    assert (agent.kind, agent.name) == ("baseline", "baseline:metaworld-scripted")
    assert isinstance(agent.factory(), MetaWorldScriptedPolicy)


def test_every_metaworld_task_has_its_own_scripted_policy() -> None:
    from metaworld import policies
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    classes = {policy_class_for(name) for name in ALL_V3_ENVIRONMENTS}
    assert len(classes) == 50
    assert all(c.__module__.startswith("metaworld.policies.") for c in classes)
    assert policy_class_for("pick-place") is policy_class_for("pick-place-v3") is policies.SawyerPickPlaceV3Policy


def test_unknown_task_is_refused_with_the_expected_form() -> None:
    with pytest.raises(ValueError, match="'pick-place-v3'"):
        policy_class_for("pick-place-v2")


def test_acts_from_the_state_as_metaworlds_policy_does() -> None:
    from metaworld.policies import SawyerReachV3Policy

    policy = MetaWorldScriptedPolicy()
    policy.reset(_task("reach-v3"))
    state = np.zeros(39, dtype=np.float32)
    state[:3] = (0.0, 0.6, 0.2)  # hand
    state[-3:] = (0.05, 0.8, 0.25)  # goal
    action = policy.act({"state": state})
    assert action.dtype == np.float32 and action.shape == (4,)
    np.testing.assert_allclose(action, SawyerReachV3Policy().get_action(state.astype(np.float64)), rtol=1e-6)
    policy.reset(_task("drawer-open-v3"))  # a new task switches the scripted policy
    assert type(policy._policy).__name__ == "SawyerDrawerOpenV3Policy"


def test_refuses_protocols_without_the_full_state() -> None:
    policy = MetaWorldScriptedPolicy()
    with pytest.raises(ValueError, match="39-d state"):
        policy.reset(_task("reach-v3", state_dim=4))  # the pixel protocols' agent_pos
    with pytest.raises(RuntimeError, match="before reset"):
        policy.act({"state": np.zeros(39, dtype=np.float32)})
