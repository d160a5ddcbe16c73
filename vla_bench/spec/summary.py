"""``summary.json`` as typed models: :class:`Summary` and its blocks, down to :class:`Estimate`.

``schemas/summary.schema.json`` stays the published contract (submitters and the server validate against it);
these models are the typed view the code reads and writes, checked against that schema field by field by
``tests/spec/test_summary_schema.py``. Blocks the schema closes (``additionalProperties: false``) forbid
unknown keys; open ones (``agent``, ``provenance``, ``run``) keep them in ``model_extra``.

A field that the schema lets a bundle leave out is ``None`` by default and stays out when written:
:meth:`Summary.to_json` drops what was never set, so a bundle read and written again is the same document.
"""

from __future__ import annotations

from typing import Literal, NotRequired, Self, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

# an int stays an int: a plain ``float`` field would turn a written ``0`` into ``0.0`` and change the file
Number = int | float
Metric = Literal["normalized_score", "success_rate", "mean_return", "average_length"]
Status = Literal["running", "complete", "incomplete", "aborted"]


# --- the scores block as plain JSON (dicts and lists), as the scoring functions build it ---------------------
class EstimateJson(TypedDict):
    """A mean with its 95% interval as summary.json writes it (bounds ``None`` where not finite)."""

    mean: float | None
    ci95: list[float | None]
    successes: NotRequired[int]  # success rates only


class ChainScoresJson(TypedDict):
    length: int
    success_rates: list[EstimateJson]
    average_length: EstimateJson


class TaskScoresHeadJson(TypedDict):
    n: int
    n_errors: int
    errors: dict[str, int]
    mean_return: EstimateJson
    normalized_score: EstimateJson | None
    success_rate: EstimateJson | None
    mean_length: float | None
    completion_steps: float | None
    action_smoothness: float | None
    clipped_steps: int


class ChainPartJson(TypedDict, total=False):  # chain protocols only
    chain: ChainScoresJson
    average_length: EstimateJson  # chain.average_length again


class TaskScoresJson(TaskScoresHeadJson, ChainPartJson):
    primary: float | None


class AggregateJson(TypedDict):
    metric: Metric
    n_tasks: int
    n_tasks_planned: int
    n_episodes: int
    n_errors: int
    mean: EstimateJson | None
    iqm: EstimateJson | None
    n_runs: int
    interval_method: str | None
    iqm_note: str | None


class ScoresJson(TypedDict):
    """The ``scores`` block as plain JSON, as ``scoring.scores.compute_scores`` builds it (:class:`Scores` is
    its model): what the server stores and compares a bundle's claim with."""

    primary_metric: Metric
    tasks: dict[str, TaskScoresJson]
    aggregate: AggregateJson


def task_estimate(task: TaskScoresJson, metric: str) -> EstimateJson | None:
    """``task``'s estimate of ``metric`` (``None`` where it has none, or for a name that is no metric)."""
    estimates: dict[str, EstimateJson | None] = {
        # .get throughout: a stored row of an older server may lack a key; a page then shows "-", never a 500
        "normalized_score": task.get("normalized_score"), "success_rate": task.get("success_rate"),
        "mean_return": task.get("mean_return"), "average_length": task.get("average_length")}
    return estimates.get(metric)


# --- the models ----------------------------------------------------------------------------------------------
class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """A block with free keys. It writes its keys in the order it was given them (declared fields would come
    first otherwise), so a run's ``summary.json`` keeps the layout the harness always wrote."""

    model_config = ConfigDict(extra="allow")
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: object, handler: ModelWrapValidatorHandler[Self]) -> Self:
        model = handler(data)
        if isinstance(data, dict):
            model._order = tuple(data)
        return model

    @model_serializer(mode="wrap")
    def _in_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, JsonValue]:
        document: dict[str, JsonValue] = handler(self)
        first = [key for key in self._order if key in document]
        return {**{key: document[key] for key in first}, **{k: v for k, v in document.items() if k not in first}}

    def extra(self, key: str) -> JsonValue:
        """A key the schema leaves free (``run.shard``, ``agent.details``' siblings), ``None`` when absent."""
        value: JsonValue = (self.model_extra or {}).get(key)
        return value


class Estimate(_Closed):
    """A mean with its 95% interval (bounds ``None`` where not finite); ``successes`` for a success rate."""

    mean: Number | None
    ci95: tuple[Number | None, Number | None]
    successes: int | None = None


class ChainScores(_Closed):
    length: int
    success_rates: list[Estimate]
    average_length: Estimate


class TaskScores(_Closed):
    n: int
    n_errors: int
    errors: dict[str, int]
    mean_return: Estimate
    normalized_score: Estimate | None
    success_rate: Estimate | None
    mean_length: Number | None
    completion_steps: Number | None
    action_smoothness: Number | None
    clipped_steps: int
    chain: ChainScores | None = None  # chain protocols only
    average_length: Estimate | None = None  # chain protocols only: chain.average_length again
    primary: Number | None

    def estimate(self, metric: Metric) -> Estimate | None:
        """This task's estimate of ``metric`` (``None`` where the protocol has no such metric)."""
        estimates = {"normalized_score": self.normalized_score, "success_rate": self.success_rate,
                     "mean_return": self.mean_return, "average_length": self.average_length}
        return estimates[metric]


class Aggregate(_Closed):
    metric: Metric
    n_tasks: int
    n_tasks_planned: int
    n_episodes: int
    n_errors: int
    mean: Estimate | None
    iqm: Estimate | None
    n_runs: int | None = None
    interval_method: str | None = None
    iqm_note: str | None = None


class Scores(_Closed):
    primary_metric: Metric
    tasks: dict[str, TaskScores]
    aggregate: Aggregate

    def to_json(self) -> dict[str, JsonValue]:
        return self.model_dump(mode="json", exclude_unset=True)


class ProtocolRef(_Closed):
    id: str
    version: int
    sha256: str


class Training(_Closed):
    group: str
    seed: int


class AgentInfo(_Open):
    spec: str
    kind: str
    name: str
    sha256: str | None
    details: dict[str, JsonValue] | None = None
    training: Training | None = None


class Provenance(_Open):
    harness_version: str
    git: dict[str, JsonValue]
    packages: dict[str, str]
    renderer: str | None
    machine: dict[str, JsonValue]
    simulator: dict[str, JsonValue] | None = None
    command: list[str] | None = None


class RunInfo(_Open):
    """How the run was executed; only ``timings`` is fixed by the schema (``executor``, ``workers``,
    ``limit_episodes``, ``shard``, ``merged_from``, ... are free keys: :meth:`extra`)."""

    timings: dict[str, Number | None] | None = None


class Summary(_Closed):
    # ``schema`` would shadow BaseModel.schema(): the field has another name, the JSON key keeps its own
    schema_: Literal["vla-bench/summary@1"] = Field(default="vla-bench/summary@1", alias="schema")
    status: Status
    official: bool
    created_at: str
    finished_at: str | None
    protocol: ProtocolRef
    agent: AgentInfo
    provenance: Provenance
    run: RunInfo
    n_episodes_planned: int
    n_episodes_done: int
    scores: Scores | None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, JsonValue]:
        """The summary.json document: what was read or set, nothing added but the schema id (first, as written)."""
        document = self.model_dump(mode="json", exclude_unset=True, by_alias=True)
        return {"schema": self.schema_, **{key: value for key, value in document.items() if key != "schema"}}
