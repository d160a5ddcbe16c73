"""Protocols as data: what one versioned evaluation protocol fixes, and its hash.

A protocol is loaded from a TOML file shipped with its benchmark adapter. Its canonical JSON (sorted keys,
no whitespace) is hashed with sha256; the hash travels with every result so that two numbers are only ever
compared when they were produced under byte-identical rules. A published version is never edited: a change
is a new ``@vN``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PROTOCOL_ID_PATTERN = re.compile(r"^(?P<benchmark>[a-z0-9_]+)/(?P<suite>[a-z0-9_.\-]+)@v(?P<version>[0-9]+)$")

PrimaryMetric = Literal["normalized_score", "success_rate", "mean_return"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Normalization(_Frozen):
    """Affine normalization ``100 * (R - ref_min) / (ref_max - ref_min)`` and where the constants come from."""

    ref_min: float
    ref_max: float
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Normalization:
        if self.ref_max == self.ref_min:
            raise ValueError("ref_max must differ from ref_min")
        return self


class TaskDef(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    env_id: str
    instruction: str = ""
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    normalization: Normalization | None = None


class SuccessRule(_Frozen):
    """How an episode's success is decided. ``any_step``: success if the flag is true at any step."""

    kind: Literal["none", "info_flag", "lift_height"]
    key: str | None = None
    threshold: float | None = None
    any_step: bool = True
    source: str = ""

    @model_validator(mode="after")
    def _complete(self) -> SuccessRule:
        if self.kind == "info_flag" and not self.key:
            raise ValueError("success kind 'info_flag' needs 'key'")
        if self.kind == "lift_height" and self.threshold is None:
            raise ValueError("success kind 'lift_height' needs 'threshold' (metres)")
        return self


class ObservationSpec(_Frozen):
    mode: Literal["state", "pixels", "pixels+state"]
    cameras: tuple[str, ...] = ()
    image_height: int | None = None
    image_width: int | None = None
    language: bool = False

    @model_validator(mode="after")
    def _cameras_for_pixels(self) -> ObservationSpec:
        if self.mode != "state" and (not self.cameras or not self.image_height or not self.image_width):
            raise ValueError(f"observation mode {self.mode!r} needs cameras, image_height and image_width")
        return self

    @property
    def has_state(self) -> bool:
        return self.mode in ("state", "pixels+state")

    @property
    def has_images(self) -> bool:
        return self.mode in ("pixels", "pixels+state")


class Protocol(_Frozen):
    id: str
    description: str = Field(min_length=1)
    adapter: str
    tasks: tuple[TaskDef, ...] = Field(min_length=1)
    episodes_per_task: int = Field(gt=0)
    max_steps: int = Field(gt=0)
    observation: ObservationSpec
    success: SuccessRule
    primary_metric: PrimaryMetric
    seed_base: int = 0
    # "seeded": every episode is reset from its own derived seed; "indexed": episode i uses fixed initial
    # state / goal ``i % n_init_states`` (LIBERO, MetaWorld goals) in addition to its seed.
    init_states: Literal["seeded", "indexed"] = "seeded"
    n_init_states: int | None = None
    terminate_on_success: bool = False
    control_hz: float | None = None
    sources: tuple[str, ...] = ()
    deprecated: str | None = None

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str) -> str:
        if not PROTOCOL_ID_PATTERN.match(value):
            raise ValueError(f"protocol id {value!r} is not of the form 'benchmark/suite@vN'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in {self.id}")
        if self.primary_metric == "normalized_score" and any(t.normalization is None for t in self.tasks):
            raise ValueError("primary_metric 'normalized_score' needs normalization constants for every task")
        if self.primary_metric == "success_rate" and self.success.kind == "none":
            raise ValueError("primary_metric 'success_rate' needs a success rule")
        if self.init_states == "indexed" and not self.n_init_states:
            raise ValueError("init_states 'indexed' needs n_init_states")
        return self

    @property
    def benchmark(self) -> str:
        return self._id_parts()["benchmark"]

    @property
    def suite(self) -> str:
        return self._id_parts()["suite"]

    @property
    def version(self) -> int:
        return int(self._id_parts()["version"])

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    @property
    def has_success(self) -> bool:
        return self.success.kind != "none"

    @property
    def n_episodes(self) -> int:
        return self.episodes_per_task * len(self.tasks)

    def task(self, name: str) -> TaskDef:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"protocol {self.id} has no task {name!r}; tasks: {', '.join(self.task_names)}")

    def _id_parts(self) -> dict[str, str]:
        match = PROTOCOL_ID_PATTERN.match(self.id)
        assert match is not None  # guaranteed by the validator
        return match.groupdict()

    def canonical_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
