"""Perturbations declared in a protocol: robustness axes, their levels, and the clean protocol they pair with.

A robustness protocol names a clean protocol and a list of axes; each axis has levels 1..N, each level a
:class:`PerturbationLevel` (the fields it sets say what it changes, and by how much). Level 0 is the clean
protocol itself. When the protocol is loaded, its tasks are expanded: every clean task is kept as it is (the
*clean arm*), and a task ``<task>.<axis>.<level>`` is added for each axis and level, carrying a
:class:`TaskPerturbation`. Every task of a robustness protocol draws its episode seeds (and initial states) from
the clean protocol's seed stream with the clean task's name, so episode ``i`` of ``reach-v3.camera.2`` starts
exactly where episode ``i`` of the clean protocol's ``reach-v3`` starts: the paired tests apply.

The random draws of a perturbation (a friction scale, a camera offset) come from a generator seeded by the
episode seed and the axis name only (``vla_bench.benchmarks.perturbations.rng``), never from the simulator's own
generators: the same episode gets the same perturbation in any worker, and the clean arm is untouched.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AXIS_NAME = re.compile(r"^[a-z0-9_]+$")
PERTURBED_TASK_SEPARATOR = "."
Range = tuple[float, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CameraPose(_Frozen):
    """An absolute pose for one camera, in its parent body's frame (LIBERO-PRO's moved agentview)."""

    camera: str = Field(min_length=1)
    position: tuple[float, float, float]
    quaternion: tuple[float, float, float, float]  # MuJoCo's (w, x, y, z)


class LightSetting(_Frozen):
    """Absolute light colours (grey levels) set on every light of the scene (LIBERO-PRO's glare case)."""

    ambient: float = Field(ge=0.0)
    diffuse: float = Field(ge=0.0)
    specular: float = Field(ge=0.0)


class Recolor(_Frozen):
    """A texture swap: every geom of body ``body`` and the bodies below it drawn in the flat colour ``rgba``
    (its material and texture dropped)."""

    body: str = Field(min_length=1)
    rgba: tuple[float, float, float, float]

    @field_validator("rgba")
    @classmethod
    def _unit(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if not all(0.0 <= channel <= 1.0 for channel in value):
            raise ValueError(f"rgba channels are in [0, 1], got {value}")
        return value


class ColorJitter(_Frozen):
    """torchvision-style colour jitter factors, drawn once per episode: brightness/contrast/saturation factor
    ~ U(1 - x, 1 + x), hue shift ~ U(-h, h) of a full turn."""

    brightness: float = Field(default=0.0, ge=0.0)
    contrast: float = Field(default=0.0, ge=0.0)
    saturation: float = Field(default=0.0, ge=0.0)
    hue: float = Field(default=0.0, ge=0.0, le=0.5)


class PerturbationLevel(_Frozen):
    """One level of one axis. Every field is optional; the fields set are what the level changes.

    Multiplicative ranges ``(lo, hi)`` draw one factor ~ U(lo, hi) per episode (and per affected element for
    dynamics). Distances are metres, angles degrees unless named ``_rad``, image values 0-255.
    """

    # dynamics (state benchmarks): model.geom_friction (sliding), body_mass, dof_damping scaled per element
    friction: Range | None = None
    mass: Range | None = None
    damping: Range | None = None
    # proprioception / control
    obs_noise: float | None = Field(default=None, ge=0.0)  # Gaussian std added to every state entry each step
    action_noise: float | None = Field(default=None, ge=0.0)  # Gaussian std as a fraction of the half-range
    action_delay: int | None = Field(default=None, ge=0)  # steps between the policy's action and its execution
    # camera (every observed camera unless `cameras` names some)
    camera_shift: float | None = Field(default=None, ge=0.0)  # offset of each coordinate ~ U(-s, s)
    camera_rotate: float | None = Field(default=None, ge=0.0)  # degrees about a random axis, ~ U(-r, r)
    camera_pose: CameraPose | None = None
    cameras: tuple[str, ...] = ()
    # lighting
    light_scale: Range | None = None  # every light's (and the headlight's) ambient/diffuse/specular x U(lo, hi)
    light: LightSetting | None = None
    # textures (scene colours; visible to the renderer only)
    recolor: tuple[Recolor, ...] = ()
    # image (applied to the rendered observation images)
    brightness: float | None = Field(default=None, gt=0.0)  # pixel values x b
    image_noise: float | None = Field(default=None, ge=0.0)  # Gaussian std on 0-255, fresh every frame
    color_jitter: ColorJitter | None = None
    cutout: float | None = Field(default=None, gt=0.0, le=1.0)  # side of one grey square / the image side
    # initial state
    object_shift: float | None = Field(default=None, ge=0.0)  # object xy offset ~ U(-s, s) per coordinate
    object_offset: tuple[float, float] | None = None  # fixed object xy offset (LIBERO-PRO)
    object_yaw_rad: float | None = None  # fixed object yaw rotation (LIBERO-PRO: pi/4)
    init_range: float | None = Field(default=None, gt=0.0)  # initial-position sampling range x f about its centre
    # language
    paraphrase: int | None = Field(default=None, ge=1)  # paraphrase set (1: wording, 2: structure) of the data

    @field_validator("friction", "mass", "damping", "light_scale")
    @classmethod
    def _ordered(cls, value: Range | None) -> Range | None:
        if value is not None and not 0.0 < value[0] <= value[1]:
            raise ValueError(f"a scale range needs 0 < lo <= hi, got {value}")
        return value

    @model_validator(mode="after")
    def _something(self) -> PerturbationLevel:
        if not self.fields_set():
            raise ValueError("a perturbation level must change something (set at least one field)")
        return self

    def fields_set(self) -> set[str]:
        """Names of the perturbing fields this level sets (``cameras`` only selects)."""
        data = self.model_dump(exclude_defaults=True)
        data.pop("cameras", None)
        return set(data)


class PerturbationAxis(_Frozen):
    name: str
    description: str = Field(min_length=1)
    levels: tuple[PerturbationLevel, ...] = Field(min_length=1)  # levels 1..N; level 0 is the clean protocol

    @field_validator("name")
    @classmethod
    def _name_form(cls, value: str) -> str:
        if not AXIS_NAME.match(value):
            raise ValueError(f"axis name {value!r} must match {AXIS_NAME.pattern}")
        return value

    def level(self, number: int) -> PerturbationLevel:
        if not 1 <= number <= len(self.levels):
            raise ValueError(f"axis {self.name!r} has levels 1..{len(self.levels)}, not {number}")
        return self.levels[number - 1]


class PerturbationSpec(_Frozen):
    """A protocol's ``[perturbation]`` section: the clean protocol it pairs with, and its axes."""

    clean_protocol: str = Field(pattern=r"^[a-z0-9_]+/[a-z0-9_.\-]+@v[0-9]+$")
    axes: tuple[PerturbationAxis, ...] = Field(min_length=1)
    source: str = ""

    @model_validator(mode="after")
    def _unique(self) -> PerturbationSpec:
        names = [axis.name for axis in self.axes]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate perturbation axes: {names}")
        return self

    @property
    def clean_scope(self) -> str:
        """``benchmark/suite`` of the clean protocol: the seed stream every task of this protocol uses."""
        return self.clean_protocol.rsplit("@", 1)[0]

    def axis(self, name: str) -> PerturbationAxis:
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise KeyError(f"no perturbation axis {name!r}; axes: {', '.join(a.name for a in self.axes)}")


class TaskPerturbation(_Frozen):
    """Carried by an expanded task: which clean task it perturbs, along which axis, at which level."""

    base_task: str
    axis: str
    level: int = Field(ge=1)


def perturbed_task_name(base_task: str, axis: str, level: int) -> str:
    return f"{base_task}{PERTURBED_TASK_SEPARATOR}{axis}{PERTURBED_TASK_SEPARATOR}{level}"


def expand_tasks(data: dict[str, object]) -> dict[str, object]:
    """Raw protocol data with a ``perturbation`` section and clean tasks only -> the same with the perturbed
    tasks appended (clean tasks first, then axis by axis, level by level, task by task). Data whose tasks
    already carry perturbations (a protocol dumped after loading) is returned unchanged."""
    section, tasks = data.get("perturbation"), data.get("tasks")
    if not isinstance(section, dict) or not isinstance(tasks, (list, tuple)):
        return data
    if any(isinstance(task, dict) and task.get("perturbation") for task in tasks):
        return data
    expanded = [dict(task) for task in tasks]
    for axis in section.get("axes") or ():
        for number in range(1, len(axis.get("levels") or ()) + 1):
            for task in tasks:
                copy = dict(task)
                copy["name"] = perturbed_task_name(str(task.get("name")), str(axis.get("name")), number)
                copy["perturbation"] = {"base_task": task.get("name"), "axis": axis.get("name"), "level": number}
                expanded.append(copy)
    return {**data, "tasks": expanded}
