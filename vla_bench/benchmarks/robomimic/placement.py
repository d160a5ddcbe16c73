"""robosuite's placement samplers, for the initial-range perturbation of robustness protocols."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from robosuite.environments.manipulation.manipulation_env import ManipulationEnv
    from robosuite.utils.placement_samplers import ObjectPositionSampler, UniformRandomSampler


def uniform_samplers(sampler: ObjectPositionSampler | None) -> list[UniformRandomSampler]:
    """The uniform samplers under a (possibly composite) robosuite placement initializer."""
    if sampler is None:
        return []
    children = getattr(sampler, "samplers", None)
    if isinstance(children, dict):
        return [leaf for child in children.values() for leaf in uniform_samplers(child)]
    if hasattr(sampler, "x_range") and hasattr(sampler, "y_range"):
        return [sampler]
    return []


def scale_placements(env: ManipulationEnv, factor: float) -> list[str]:
    """Move every free object a uniform sampler placed so that its xy offset from the centre of the sampler's
    range is multiplied by ``factor``; returns the names of the objects moved."""
    if factor == 1.0:
        return []
    moved = []
    for sampler in uniform_samplers(getattr(env, "placement_initializer", None)):
        x_range, y_range = np.asarray(sampler.x_range, float), np.asarray(sampler.y_range, float)
        if np.ptp(x_range) == 0 and np.ptp(y_range) == 0:
            continue  # a fixed placement: no range to widen
        centre = np.asarray(sampler.reference_pos, float)[:2] + np.asarray([x_range.mean(), y_range.mean()])
        for obj in sampler.mujoco_objects:
            if not obj.joints:
                continue
            joint = obj.joints[0]
            qpos = np.array(env.sim.data.get_joint_qpos(joint), dtype=float)
            qpos[:2] = centre + (qpos[:2] - centre) * factor
            env.sim.data.set_joint_qpos(joint, qpos)
            moved.append(obj.name)
    env.sim.forward()
    return moved
