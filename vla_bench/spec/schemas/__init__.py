"""JSON Schemas of what vla-bench writes: ``summary.json`` and the lines of ``episodes.jsonl``."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema  # noqa: PLC0415 - ~0.1 s to import: not on `vla-bench eval`'s way to its first env step

    schema = load_schema(name)
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)


def schema_errors(name: str, document: object) -> list[str]:
    """Every violation as ``path: message`` (``$`` is the document root), most specific first."""
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: (-len(e.absolute_path), str(e.path)))
    return [f"{e.json_path}: {e.message}" for e in errors]


def validate_summary(summary: object) -> None:
    errors = schema_errors("summary", summary)
    if errors:
        raise ValueError("summary.json does not match its schema: " + "; ".join(errors[:5]))


def validate_episode(record: object) -> None:
    errors = schema_errors("episode", record)
    if errors:
        raise ValueError("episode record does not match its schema: " + "; ".join(errors[:5]))
