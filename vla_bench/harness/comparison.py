"""Typed view of ``scoring.compare.paired_comparison``'s result, for the reports that print it.

``paired_comparison`` returns JSON (the server stores and serves it as such); the CLI reads it through these
models instead of key lookups. The intervals are :class:`spec.summary.Estimate`, as in ``summary.json``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vla_bench.spec.summary import Estimate, Metric


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class McNemar(_Closed):
    a_only: int
    b_only: int
    p_value: float
    p_holm: float | None = None  # per task, over the tasks (Holm)


class PairedEntry(_Closed):
    """One task's (or all tasks') paired result: both arms and the difference B − A."""

    n_pairs: int
    difference: Estimate
    a: Estimate
    b: Estimate
    mcnemar: McNemar | None = None  # success-rate protocols only
    newcombe: Estimate | None = None  # success-rate protocols only


class Comparison(_Closed):
    protocol: str
    metric: Metric
    only_in_a: int
    only_in_b: int
    tasks: dict[str, PairedEntry]
    overall: PairedEntry
    multiple_comparisons: str | None
    verdict: str
