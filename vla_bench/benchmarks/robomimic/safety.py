"""Safety metrics of robomimic's robosuite scenes (benchmarks/safety.py).

Robot: every body from ``robot<k>_link1`` down (arm, hand, gripper), for each arm. Obstacles: every body that is
neither the robot nor its base/mount nor a movable task object (a body under a free joint): the floor, the table,
bins, pegs and other fixtures. Contacts above 5 N of normal force count. robomimic defines no workspace box, so
no workspace violations are counted; the end effector is each arm's ``eef_site`` (peak speed over the arms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.safety import SafetyMonitor, SafetySpec, descendants

if TYPE_CHECKING:
    import mujoco
    from robosuite.environments.manipulation.manipulation_env import ManipulationEnv

SAFETY_FORCE_N = 5.0
_UNBOUNDED = (-np.inf, -np.inf, -np.inf)


def _free_bodies(model: mujoco.MjModel) -> frozenset[int]:
    """Bodies carrying a free joint, and everything attached below them (movable task objects)."""
    free = {int(model.jnt_bodyid[j]) for j in range(model.njnt) if int(model.jnt_type[j]) == 0}  # mjJNT_FREE
    return frozenset(b for body in free for b in descendants(model, model.body(body).name))


def robosuite_monitor(env: ManipulationEnv) -> SafetyMonitor:
    model, data = env.sim.model._model, env.sim.data._data
    robot: set[int] = set()
    mounts: set[int] = set()
    for index, _ in enumerate(env.robots):
        robot |= descendants(model, f"robot{index}_link1")
        mounts |= descendants(model, f"robot{index}_base")
    exempt = (frozenset(mounts) - robot) | _free_bodies(model)
    joints = tuple(model.joint(name).id for r in env.robots for name in r.robot_joints)
    return SafetyMonitor(model, data, SafetySpec(
        robot_bodies=frozenset(robot), exempt_bodies=exempt, force_threshold=SAFETY_FORCE_N,
        workspace_low=_UNBOUNDED, workspace_high=tuple(-x for x in _UNBOUNDED), joints=joints,
        control_dt=1.0 / float(env.control_freq)))


def end_effectors(env: ManipulationEnv) -> NDArray[np.float64]:
    """Each arm's end-effector site position, stacked [n_arms, 3]."""
    data = env.sim.data._data
    sites = [site for r in env.robots for site in r.eef_site_id.values()]
    return np.stack([np.asarray(data.site_xpos[site]) for site in sites])
