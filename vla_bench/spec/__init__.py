"""Shared vocabulary of vla-bench: imported by every part, imports no other part of ours."""

from vla_bench.spec.episode import (
    CHAIN_INDEX_KEY,
    ERROR_KINDS,
    SUBTASKS_COMPLETED_KEY,
    EpisodeRecord,
    EpisodeSpec,
    Observation,
    TaskSpec,
)
from vla_bench.spec.protocol import (
    ChainSpec,
    Normalization,
    ObservationSpec,
    Protocol,
    SuccessRule,
    TaskDef,
    canonical_json,
)

SUMMARY_SCHEMA_ID = "vla-bench/summary@1"

__all__ = [
    "CHAIN_INDEX_KEY",
    "ERROR_KINDS",
    "SUBTASKS_COMPLETED_KEY",
    "SUMMARY_SCHEMA_ID",
    "ChainSpec",
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
