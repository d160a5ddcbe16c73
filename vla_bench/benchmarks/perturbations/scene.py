"""Perturbations of a MuJoCo model: dynamics (friction, mass, damping), camera poses, lights.

The editor remembers the nominal value of every array it touches the first time it touches it and restores all
of them before each episode's edit, so episodes never accumulate changes and an unperturbed episode after a
perturbed one sees the nominal model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.perturbations.rng import perturbation_rng, scale_draw
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco

SCENE_FIELDS = frozenset({"friction", "mass", "damping", "camera_shift", "camera_rotate", "camera_pose",
                          "light_scale", "light", "recolor"})
_HEADLIGHT = ("ambient", "diffuse", "specular")


def quat_multiply(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Hamilton product of (w, x, y, z) quaternions."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.asarray([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                       w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def axis_angle_quat(axis: NDArray[np.float64], degrees: float) -> NDArray[np.float64]:
    half = np.deg2rad(degrees) / 2.0
    unit = axis / np.linalg.norm(axis)
    return np.concatenate([[np.cos(half)], np.sin(half) * unit])


class SceneEditor:
    """Applies a level's scene fields to one MuJoCo model (``mujoco.MjModel``)."""

    def __init__(self, model: mujoco.MjModel, cameras: dict[str, str]) -> None:
        self.model = model
        self._cameras = cameras  # observation camera name -> MuJoCo camera name
        self._nominal: dict[str, NDArray[Any]] = {}

    def _array(self, name: str) -> NDArray[Any]:  # float64, float32 (rgba, headlight) or int (matid)
        array: NDArray[np.generic]  # MuJoCo's model arrays, changed in place
        if name.startswith("headlight."):
            array = getattr(self.model.vis.headlight, name.split(".", 1)[1])
        else:
            array = getattr(self.model, name)
        self._nominal.setdefault(name, np.array(array, copy=True))
        return array

    def restore(self) -> None:
        for name, value in self._nominal.items():
            if name.startswith("headlight."):
                getattr(self.model.vis.headlight, name.split(".", 1)[1])[:] = value
            else:
                getattr(self.model, name)[:] = value

    def camera_ids(self, level: PerturbationLevel) -> list[int]:
        import mujoco  # noqa: PLC0415 - only where a MuJoCo scene exists

        names = [self._cameras.get(c, c) for c in level.cameras] if level.cameras else list(self._cameras.values())
        ids = []
        for name in names:
            camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if camera_id < 0:
                raise ValueError(f"the scene has no camera {name!r} to perturb")
            ids.append(camera_id)
        return ids

    def apply(self, level: PerturbationLevel, seed: int, axis: str) -> None:
        self.restore()
        if level.friction is not None:
            friction = self._array("geom_friction")
            friction[:, 0] *= scale_draw(perturbation_rng(seed, axis, "friction"), level.friction, len(friction))
        if level.mass is not None:
            factors = scale_draw(perturbation_rng(seed, axis, "mass"), level.mass, self.model.nbody - 1)
            self._array("body_mass")[1:] *= factors  # body 0 is the world
            self._array("body_inertia")[1:] *= factors[:, None]  # same shape, denser: inertia scales with mass
        if level.damping is not None:
            damping = self._array("dof_damping")
            damping *= scale_draw(perturbation_rng(seed, axis, "damping"), level.damping, len(damping))
        if level.camera_shift or level.camera_rotate or level.camera_pose is not None:
            self._cameras_edit(level, seed, axis)
        if level.light_scale is not None:
            factor = float(scale_draw(perturbation_rng(seed, axis, "light_scale"), level.light_scale))
            for name in ("light_ambient", "light_diffuse", "light_specular", *(f"headlight.{h}" for h in _HEADLIGHT)):
                self._array(name)[:] *= factor
        for swap in level.recolor:
            self._recolor(swap.body, swap.rgba)
        if level.light is not None:
            for part in _HEADLIGHT:
                value = getattr(level.light, part)
                self._array(f"light_{part}")[:] = value
                self._array(f"headlight.{part}")[:] = value

    def _recolor(self, body: str, rgba: tuple[float, float, float, float]) -> None:
        parents = np.asarray(self.model.body_parentid)
        root = self.model.body(body).id  # raises KeyError naming the body when the scene has none
        under = {root}
        for child in range(self.model.nbody):  # MuJoCo numbers bodies parent-first
            if child != root and int(parents[child]) in under and child != 0:
                under.add(child)
        geoms = [g for g in range(self.model.ngeom) if int(self.model.geom_bodyid[g]) in under]
        colours, materials = self._array("geom_rgba"), self._array("geom_matid")
        for geom in geoms:
            colours[geom] = rgba
            materials[geom] = -1

    def _cameras_edit(self, level: PerturbationLevel, seed: int, axis: str) -> None:
        positions, quaternions = self._array("cam_pos"), self._array("cam_quat")
        if level.camera_pose is not None:
            ids = self.camera_ids(level.model_copy(update={"cameras": (level.camera_pose.camera,)}))
            positions[ids[0]] = level.camera_pose.position
            quaternion = np.asarray(level.camera_pose.quaternion)
            quaternions[ids[0]] = quaternion / np.linalg.norm(quaternion)
        if not (level.camera_shift or level.camera_rotate):
            return
        for camera_id in self.camera_ids(level):
            rng = perturbation_rng(seed, axis, f"camera{camera_id}")
            shift, direction, angle = rng.uniform(-1.0, 1.0, 3), rng.normal(size=3), rng.uniform(-1.0, 1.0)
            if level.camera_shift:
                positions[camera_id] += level.camera_shift * shift
            if level.camera_rotate:
                turned = quat_multiply(axis_angle_quat(direction, level.camera_rotate * angle), quaternions[camera_id])
                quaternions[camera_id] = turned / np.linalg.norm(turned)
