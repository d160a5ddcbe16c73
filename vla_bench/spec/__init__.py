"""Shared vocabulary of vla-bench: imported by every part, imports no other part of ours."""

from vla_bench.spec.episode import ERROR_KINDS, EpisodeRecord, EpisodeSpec, Observation, TaskSpec
from vla_bench.spec.protocol import (
    Normalization,
    ObservationSpec,
    Protocol,
    SuccessRule,
    TaskDef,
    canonical_json,
)

SUMMARY_SCHEMA_ID = "vla-bench/summary@1"

__all__ = [
    "ERROR_KINDS",
    "SUMMARY_SCHEMA_ID",
    "EpisodeRecord",
    "EpisodeSpec",
    "Normalization",
    "Observation",
    "ObservationSpec",
    "Protocol",
    "SuccessRule",
    "TaskDef",
    "TaskSpec",
    "canonical_json",
]
