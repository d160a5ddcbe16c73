"""Safety metrics of one episode, read from a MuJoCo simulation after every control step.

What is counted (each benchmark says which bodies are which; docs/robustness.md lists them):

``collisions``
    Contacts between a robot body and a non-exempt body that is not the robot (the table, walls, the floor,
    non-target objects) whose normal force exceeds the benchmark's threshold (MuJoCo ``mj_contactForce``), counted
    at onset: a (robot body, other body) pair that stays in contact over consecutive steps is one collision.
``collision_steps``
    Control steps with at least one such contact; ``collision_rate`` = collision_steps / steps.
``workspace_violations``
    Steps whose end-effector point lies outside the benchmark's workspace box.
``joint_limit_violations``
    Steps at which any limited robot joint is within ``JOINT_LIMIT_MARGIN`` rad of (or beyond) its range.
``peak_ee_speed``
    The largest end-effector speed in m/s: displacement between consecutive control steps / control period.

Sessions report the running totals under ``SAFETY_KEY`` in every step's ``info``; the harness keeps the last
value in the episode record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec.episode import SAFETY_KEY

if TYPE_CHECKING:
    import mujoco

JOINT_LIMIT_MARGIN = 0.01  # rad: "at the limit" (MuJoCo limits are soft: a joint pushed there sits slightly beyond)

__all__ = ["JOINT_LIMIT_MARGIN", "SAFETY_KEY", "SafetyMonitor", "SafetySpec", "descendants"]


def descendants(model: mujoco.MjModel, root: str, *, include_root: bool = True) -> frozenset[int]:
    """Ids of the bodies in the kinematic subtree of body ``root``."""
    root_id = model.body(root).id
    parents = np.asarray(model.body_parentid)
    found = {root_id}
    changed = True
    while changed:
        changed = False
        for body in range(model.nbody):
            if body not in found and int(parents[body]) in found and body != 0:
                found.add(body)
                changed = True
    return frozenset(found if include_root else found - {root_id})


@dataclass(frozen=True)
class SafetySpec:
    robot_bodies: frozenset[int]
    exempt_bodies: frozenset[int]  # task objects the robot is meant to touch
    force_threshold: float  # newtons of normal force
    workspace_low: tuple[float, ...]
    workspace_high: tuple[float, ...]
    joints: tuple[int, ...]  # limited robot joints checked against their range
    control_dt: float


class SafetyMonitor:
    """Running safety totals of the current episode; ``reset`` at the start of each episode."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, spec: SafetySpec) -> None:
        import mujoco  # noqa: PLC0415 - only where a MuJoCo scene exists

        self._mujoco, self._model, self._data, self.spec = mujoco, model, data, spec
        self._body_of_geom = np.asarray(model.geom_bodyid)
        addresses = [int(model.jnt_qposadr[j]) for j in spec.joints]
        self._qpos_index = np.asarray(addresses, dtype=int)
        ranges = np.asarray([model.jnt_range[j] for j in spec.joints]).reshape(-1, 2)
        self._low = ranges[:, 0] + JOINT_LIMIT_MARGIN
        self._high = ranges[:, 1] - JOINT_LIMIT_MARGIN
        self._box_low, self._box_high = np.asarray(spec.workspace_low), np.asarray(spec.workspace_high)
        self._force = np.zeros(6)
        self.reset(None)

    def reset(self, ee_position: NDArray[np.float64] | None) -> None:
        self.steps = self.collisions = self.collision_steps = 0
        self.workspace_violations = self.joint_limit_violations = 0
        self.peak_ee_speed = 0.0
        self._touching: set[tuple[int, int]] = set()
        self._last_ee = None if ee_position is None else np.atleast_2d(np.array(ee_position, dtype=np.float64))

    def contacts(self) -> set[tuple[int, int]]:
        """(robot body, other body) pairs in contact above the force threshold right now."""
        model, data, spec = self._model, self._data, self.spec
        pairs = set()
        for index in range(data.ncon):
            contact = data.contact[index]
            first, second = int(self._body_of_geom[contact.geom1]), int(self._body_of_geom[contact.geom2])
            if (first in spec.robot_bodies) == (second in spec.robot_bodies):
                continue  # robot self-contact, or two non-robot bodies
            robot, other = (first, second) if first in spec.robot_bodies else (second, first)
            if other in spec.exempt_bodies:
                continue
            self._mujoco.mj_contactForce(model, data, index, self._force)
            if abs(self._force[0]) > spec.force_threshold:  # contact frame: normal force first
                pairs.add((robot, other))
        return pairs

    def update(self, ee_position: NDArray[np.float64]) -> dict[str, float]:
        """Account for one control step that ended in the current simulator state; the running totals.
        ``ee_position``: [3], or [n_arms, 3] (workspace checked for every arm, peak speed of the fastest)."""
        self.steps += 1
        touching = self.contacts()
        self.collisions += len(touching - self._touching)
        self.collision_steps += bool(touching)
        self._touching = touching
        ee = np.atleast_2d(np.asarray(ee_position, dtype=np.float64))  # [n_arms, 3]
        if np.any(ee < self._box_low) or np.any(ee > self._box_high):
            self.workspace_violations += 1
        qpos = np.asarray(self._data.qpos)[self._qpos_index]
        if np.any(qpos < self._low) or np.any(qpos > self._high):
            self.joint_limit_violations += 1
        if self._last_ee is not None:
            speed = float(np.max(np.linalg.norm(ee - self._last_ee, axis=1))) / self.spec.control_dt
            self.peak_ee_speed = max(self.peak_ee_speed, speed)
        self._last_ee = ee.copy()
        return self.totals()

    def totals(self) -> dict[str, float]:
        return {
            "collisions": float(self.collisions),
            "collision_steps": float(self.collision_steps),
            "collision_rate": self.collision_steps / self.steps if self.steps else 0.0,
            "workspace_violations": float(self.workspace_violations),
            "joint_limit_violations": float(self.joint_limit_violations),
            "peak_ee_speed": round(self.peak_ee_speed, 6),
        }
