"""``baseline:metaworld-scripted``: Meta-World's own hand-written expert policy for each task.

metaworld ships one scripted policy per v3 task (``metaworld.policies``, mapped by ``ENV_POLICY_MAP``); they
read metaworld's 39-d goal-observable state (hand, gripper, objects, goal) and return a 4-d action. This
agent picks the policy for the task it is reset to and feeds it ``observation["state"]``. It needs protocols
with the full 39-d state and a visible goal (the metaworld state protocols); on pixel protocols, whose state
is the 4-d ``agent_pos``, it refuses at reset.

Task names are metaworld's environment names (``pick-place-v3``); a name without the ``-v3`` suffix is
accepted too. The agents layer does not import the benchmark adapter, so the mapping is metaworld's own.
The policies are deterministic: the same episode gives the same actions everywhere.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from vla_bench.agents.policy import Action
from vla_bench.spec import Observation, TaskSpec

if TYPE_CHECKING:
    from metaworld.policies.policy import Policy as ScriptedPolicy

STATE_DIM = 39  # metaworld sawyer_xyz_env.py _get_obs
ACTION_DIM = 4

# metaworld.policies.policy.move warns whenever a proportional gain saturates the action; the environment clips
# to [-1, 1] by design (so does the harness), so the warning says nothing about this baseline's run.
warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning,
                        module=r"metaworld\.policies")


def policy_class_for(task_name: str) -> type[ScriptedPolicy]:
    """metaworld's scripted policy class for a task name such as ``pick-place-v3`` (or ``pick-place``)."""
    from metaworld.policies import ENV_POLICY_MAP  # noqa: PLC0415 - metaworld only when this agent is used

    name = task_name if task_name.endswith("-v3") else f"{task_name}-v3"
    if name not in ENV_POLICY_MAP:
        raise ValueError(f"baseline:metaworld-scripted has no scripted policy for task {task_name!r}: it runs "
                         f"metaworld's v3 tasks, e.g. 'pick-place-v3' (known: {len(ENV_POLICY_MAP)} tasks in "
                         "metaworld.policies.ENV_POLICY_MAP)")
    return ENV_POLICY_MAP[name]


class MetaWorldScriptedPolicy:
    """Delegates to metaworld's scripted policy of the current task."""

    def __init__(self) -> None:
        self._policy: ScriptedPolicy | None = None
        self._task: str | None = None

    def reset(self, task: TaskSpec) -> None:
        if task.state_dim != STATE_DIM or task.action_dim != ACTION_DIM:
            raise ValueError(f"baseline:metaworld-scripted needs metaworld's {STATE_DIM}-d state and {ACTION_DIM}-d "
                             f"actions; task {task.name!r} gives state_dim={task.state_dim}, "
                             f"action_dim={task.action_dim} (use a metaworld state protocol, e.g. metaworld/mt50@v1)")
        if task.name != self._task:  # the scripted policies keep no state across steps: one per task suffices
            self._policy = policy_class_for(task.name)()
            self._task = task.name

    def act(self, observation: Observation) -> Action:
        if self._policy is None:
            raise RuntimeError("act() before reset()")
        state = np.asarray(observation["state"], dtype=np.float64)  # metaworld's policies compute in float64
        return np.asarray(self._policy.get_action(state), dtype=np.float32)


def make() -> MetaWorldScriptedPolicy:
    return MetaWorldScriptedPolicy()
