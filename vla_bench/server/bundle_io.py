"""A results bundle directory as the JSON document the API takes: ``{"summary": {...}, "episodes": [...]}``.

The files are sent as they are on disk (not re-serialized through the harness's dataclasses), so the
server checks exactly what the submitter has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vla_bench.harness.bundle import EPISODES_FILE, SUMMARY_FILE, jsonl_lines
from vla_bench.spec.errors import UserError

__all__ = ["EPISODES_FILE", "SUMMARY_FILE", "is_bundle_dir", "read_bundle_document"]


def is_bundle_dir(directory: Path) -> bool:
    return (directory / SUMMARY_FILE).is_file() and (directory / EPISODES_FILE).is_file()


def read_bundle_document(directory: Path) -> dict[str, Any]:
    if not is_bundle_dir(directory):
        raise UserError(f"{directory} is not a results bundle: it needs {SUMMARY_FILE} and {EPISODES_FILE} "
                        "(written by `vla-bench eval --out DIR`)")
    summary_path = directory / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{summary_path} is not valid JSON: {exc}") from None
    episodes_path = directory / EPISODES_FILE
    episodes = [value for _, value in jsonl_lines(episodes_path, episodes_path.read_bytes())]
    return {"summary": summary, "episodes": episodes}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (bundles write non-finite numbers as null)")
