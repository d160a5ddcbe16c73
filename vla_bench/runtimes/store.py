"""Where runtimes live: built ones under the user data dir, adopted interpreters in a user config file.

``VLA_BENCH_RUNTIMES_DIR`` and ``VLA_BENCH_CONFIG_DIR`` override the two directories (tests, shared machines).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import platformdirs

from vla_bench.spec.errors import UserError
from vla_bench.spec.runtime import RuntimeSpec

APP_NAME = "vla-bench"
COMPLETE_MARKER = "vla-bench-runtime.json"  # written last: a directory without it is half-built
ADOPTED_FILE = "runtimes.json"


def runtimes_dir() -> Path:
    override = os.environ.get("VLA_BENCH_RUNTIMES_DIR")
    return Path(override) if override else platformdirs.user_data_path(APP_NAME) / "runtimes"


def config_dir() -> Path:
    override = os.environ.get("VLA_BENCH_CONFIG_DIR")
    return Path(override) if override else platformdirs.user_config_path(APP_NAME)


def runtime_dir(spec: RuntimeSpec) -> Path:
    """The venv of ``spec``: keyed by its requirements' hash, so a changed pin gets a fresh directory."""
    return runtimes_dir() / f"{spec.name}-{spec.key()}"


def venv_python(directory: Path) -> Path:
    return directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


class BuiltMarker(TypedDict, total=False):
    """The completion record of a built runtime (``COMPLETE_MARKER``, JSON), as ``build.setup`` writes it."""

    python: str
    install_seconds: float
    size_bytes: int
    requirements: list[str]
    built_at: str  # UTC, ISO 8601
    key: str  # the RuntimeSpec.key() it was built for
    name: str


def built_marker(spec: RuntimeSpec) -> BuiltMarker | None:
    """The completion record of the built runtime of ``spec``, or ``None`` when it is absent or half-built."""
    marker = runtime_dir(spec) / COMPLETE_MARKER
    try:
        data: BuiltMarker = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("key") == spec.key() and venv_python(runtime_dir(spec)).exists() else None


@dataclass(frozen=True)
class Adopted:
    name: str
    python: str
    key: str  # the RuntimeSpec.key() it was checked against
    problems: tuple[str, ...]  # what the check found missing when it was adopted (adopted anyway)


def _adopted_path() -> Path:
    return config_dir() / ADOPTED_FILE


def _read_adopted() -> dict[str, object]:
    path = _adopted_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix or delete it, then adopt again with "
                        f"`vla-bench setup NAME --python PATH`") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path} should hold a JSON object of runtime name -> interpreter; delete it and adopt again")
    return data


def adopted(name: str) -> Adopted | None:
    entry = _read_adopted().get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("python"), str):
        return None
    return Adopted(name=name, python=entry["python"], key=str(entry.get("key", "")),
                   problems=tuple(entry.get("problems", ())))


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")
    os.replace(temporary, path)


def record_adopted(entry: Adopted) -> Path:
    data = _read_adopted()
    data[entry.name] = {"python": entry.python, "key": entry.key, "problems": list(entry.problems)}
    path = _adopted_path()
    _write_json(path, data)
    return path


def forget_adopted(name: str) -> bool:
    data = _read_adopted()
    if data.pop(name, None) is None:
        return False
    _write_json(_adopted_path(), data)
    return True


def write_marker(spec: RuntimeSpec, info: BuiltMarker) -> None:
    _write_json(runtime_dir(spec) / COMPLETE_MARKER, {**info, "key": spec.key(), "name": spec.name})
