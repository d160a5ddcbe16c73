"""A results bundle directory as the JSON document the API takes: ``{"summary": {...}, "episodes": [...]}``,
with ``"training_log": {"csv": ...}`` when the bundle's agent is a `vla-bench train` export that kept its log.

The files are sent as they are on disk (not re-serialized through the harness's dataclasses), so the
server checks exactly what the submitter has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import JsonValue

from vla_bench.server.bundle_limits import MAX_TRAINING_LOG_CHARS, Refusal
from vla_bench.server.training_log import parse_training_log
from vla_bench.spec.bundle import EPISODES_FILE, SUMMARY_FILE, jsonl_lines, load_summary_json
from vla_bench.spec.errors import UserError

__all__ = ["EPISODES_FILE", "SUMMARY_FILE", "is_bundle_dir", "read_bundle_document", "training_log_file"]
TRAINING_LOG = "train.csv"  # what `vla-bench train` writes beside manifest.json and model.onnx
# agents.exported's MANIFEST_FORMAT and agents_dir(): the server package does not import agents (layering)
EXPORT_FORMAT = "vla-bench-exported-policy/1"
AGENTS_DIR = Path(__file__).resolve().parents[2] / "results" / "agents"


def is_bundle_dir(directory: Path) -> bool:
    return (directory / SUMMARY_FILE).is_file() and (directory / EPISODES_FILE).is_file()


def default_agents_dir() -> Path:
    return Path(os.environ.get("VLA_BENCH_AGENTS_DIR") or AGENTS_DIR)


def read_bundle_document(directory: Path, *, agents_dir: Path | None = None) -> dict[str, JsonValue]:
    """The POST body of the bundle in ``directory``; ``agents_dir`` holds the bundled ``baseline:NAME`` exports
    (default: ``VLA_BENCH_AGENTS_DIR`` or the checkout's ``results/agents``)."""
    if not is_bundle_dir(directory):
        raise UserError(f"{directory} is not a results bundle: it needs {SUMMARY_FILE} and {EPISODES_FILE} "
                        "(written by `vla-bench eval --out DIR`)")
    summary = load_summary_json(directory / SUMMARY_FILE)  # as on disk: the server validates what it receives
    episodes_path = directory / EPISODES_FILE
    episodes = [value for _, value in jsonl_lines(episodes_path, episodes_path.read_bytes())]
    document: dict[str, JsonValue] = {"summary": summary, "episodes": episodes}
    agent = summary.get("agent") if isinstance(summary, dict) else None
    log = training_log_file(agent, agents_dir or default_agents_dir()) if isinstance(agent, dict) else None
    if log is not None:
        document["training_log"] = {"csv": training_csv(log)}
    return document


def training_log_file(agent: Mapping[str, object], agents_dir: Path) -> Path | None:
    """The training CSV of the export that produced the bundle: ``baseline:NAME`` -> ``agents_dir/NAME``, a model
    path -> its directory; only when that directory's manifest names the model the bundle ran (same sha256)
    and the log passes the server's checks (a log that would not is left out, not a reason to refuse the
    bundle)."""
    spec, sha256 = agent.get("spec"), agent.get("sha256")
    if not isinstance(spec, str) or not isinstance(sha256, str):
        return None
    if spec.startswith("baseline:"):
        name = spec.removeprefix("baseline:")
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        directory = agents_dir / name
    else:
        path = Path(spec).expanduser()
        directory = path if path.is_dir() else path.parent
    log = directory / TRAINING_LOG
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != EXPORT_FORMAT or manifest.get("model", {}).get("sha256") != sha256:
            return None
        if log.stat().st_size > MAX_TRAINING_LOG_CHARS * 4:  # far past the limit (4 bytes per character at most)
            return None
        parse_training_log({"csv": training_csv(log)})
    except (OSError, ValueError, AttributeError, Refusal):
        return None
    return log


def training_csv(log: Path) -> str:
    """The log's text as sent: the trainers write ``nan`` where a measure was not computed at a step (DAgger's
    expert gap before its first round); the wire has an empty cell for that, and refuses NaN as a number."""
    lines = log.read_text(encoding="utf-8").splitlines()
    cells = [lines[0], *(",".join("" if c.strip().lower() == "nan" else c for c in line.split(","))
                         for line in lines[1:])]
    return "\n".join(cells) + "\n"

