"""spec.summary's models against the published ``summary.schema.json``, which stays the contract.

The schema is written by hand and published (submitters and the server validate with it); the models are
checked against it rather than generated from it, so neither can drift: every block's properties, required
keys, nullability and closedness agree, and every committed bundle reads through the model and writes back
equal, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from vla_bench.spec import SUMMARY_SCHEMA_ID
from vla_bench.spec.schemas import load_schema, schema_errors
from vla_bench.spec.summary import (
    AgentInfo,
    Aggregate,
    ChainScores,
    Estimate,
    ProtocolRef,
    Provenance,
    RunInfo,
    Scores,
    Summary,
    TaskScores,
    Training,
)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "results").glob("*/summary.json"))

# each model and the schema block it is the typed view of (a JSON pointer into summary.schema.json)
BLOCKS: list[tuple[type[BaseModel], str]] = [
    (Summary, ""),
    (ProtocolRef, "/properties/protocol"),
    (AgentInfo, "/properties/agent"),
    (Training, "/properties/agent/properties/training"),
    (Provenance, "/properties/provenance"),
    (RunInfo, "/properties/run"),
    (Scores, "/$defs/scores"),
    (Aggregate, "/$defs/scores/properties/aggregate"),
    (TaskScores, "/$defs/task_scores"),
    (ChainScores, "/$defs/chain_scores"),
    (Estimate, "/$defs/estimate"),
]


def _block(pointer: str) -> dict[str, Any]:
    node: dict[str, Any] = load_schema("summary")
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


def _schema_allows_null(prop: dict[str, Any]) -> bool:
    types = prop.get("type", [])
    refs = [option.get("$ref", "") for option in prop.get("oneOf", [])]
    return ("null" in types or any(option.get("type") == "null" for option in prop.get("oneOf", []))
            or prop.get("$ref") == "#/$defs/estimate_or_null" or "#/$defs/estimate_or_null" in refs)


def _json_names(model: type[BaseModel]) -> dict[str, str]:
    return {(info.alias or name): name for name, info in model.model_fields.items()}


@pytest.mark.parametrize(("model", "pointer"), BLOCKS, ids=[m.__name__ for m, _ in BLOCKS])
def test_each_model_has_its_schema_blocks_properties_required_keys_and_nulls(model: type[BaseModel],
                                                                             pointer: str) -> None:
    block = _block(pointer)
    names = _json_names(model)
    assert set(names) == set(block["properties"])
    required = {key for key, name in names.items() if model.model_fields[name].is_required()}
    required |= {"schema"} if model is Summary else set()  # a constant with its default, always written
    assert required == set(block.get("required", []))
    closed = block.get("additionalProperties") is False
    assert (model.model_config.get("extra") == "forbid") == closed
    generated = model.model_json_schema(by_alias=True)["properties"]
    for key in block.get("required", []):  # an optional key's None means "absent", not JSON null
        model_null = any(option.get("type") == "null" for option in generated[key].get("anyOf", []))
        assert model_null == _schema_allows_null(block["properties"][key]), key


def test_every_block_of_the_schema_has_a_model() -> None:
    pointers = {pointer for _, pointer in BLOCKS}
    schema = load_schema("summary")
    objects = {f"/$defs/{name}" for name, block in schema["$defs"].items() if block.get("type") == "object"}
    objects |= {f"/properties/{name}" for name, block in schema["properties"].items()
                if block.get("type") == "object" and block.get("properties") and name != "run"}
    assert objects <= pointers
    assert "/properties/run" in pointers


def test_the_schema_id_is_one_string() -> None:
    assert Summary.model_fields["schema_"].default == SUMMARY_SCHEMA_ID == load_schema("summary")["$id"]
    assert load_schema("summary")["properties"]["schema"]["const"] == SUMMARY_SCHEMA_ID


def test_committed_bundles_exist() -> None:
    assert len(COMMITTED) >= 20


@pytest.mark.parametrize("path", COMMITTED, ids=[p.parent.name for p in COMMITTED])
def test_a_committed_summary_validates_under_both_and_writes_back_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert schema_errors("summary", document) == []
    summary = Summary.model_validate(document)
    assert summary.to_json() == document
    assert json.dumps(summary.to_json(), indent=2) + "\n" == text  # write_json_atomic's format


def test_ints_stay_ints_and_absent_optional_keys_stay_absent() -> None:
    estimate = Estimate.model_validate({"mean": 0, "ci95": [0, 1.5]})
    assert estimate.model_dump(mode="json", exclude_unset=True) == {"mean": 0, "ci95": [0, 1.5]}
    assert type(estimate.mean) is int


def test_an_unknown_key_in_a_closed_block_is_refused_and_kept_in_an_open_one() -> None:
    with pytest.raises(ValueError, match="extra"):
        Estimate.model_validate({"mean": 1.0, "ci95": [0.0, 2.0], "median": 1.0})
    run = RunInfo.model_validate({"executor": "local", "shard": [0, 2]})
    assert run.extra("shard") == [0, 2] and run.extra("missing") is None
    assert run.model_dump(exclude_unset=True) == {"executor": "local", "shard": [0, 2]}


def test_an_open_block_writes_its_keys_in_the_order_it_was_given_them() -> None:
    run = RunInfo.model_validate({"executor": "local", "timings": {"wall_s": 1.0}, "policy_placement": "worker"})
    assert list(run.model_dump(mode="json", exclude_unset=True)) == ["executor", "timings", "policy_placement"]
    merged = run.model_copy(update={"merged_from": ["a"]})
    assert list(merged.model_dump(exclude_unset=True)) == ["executor", "timings", "policy_placement", "merged_from"]
