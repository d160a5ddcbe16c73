"""Protocol discovery: the versioned protocol files each benchmark ships, found and validated without loading
any adapter or simulator (so the leaderboard server can read protocols without the harness)."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from vla_bench.benchmarks import BENCHMARKS
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError, unknown_name_error


def benchmark_names() -> list[str]:
    return sorted(BENCHMARKS)


def benchmark_description(name: str) -> str:
    return BENCHMARKS.description(name)


@functools.cache
def _protocol_files() -> dict[str, Traversable]:
    """protocol id -> its TOML file in the package (a registry entry names its adapter lazily: nothing loads)."""
    found: dict[str, Traversable] = {}
    for adapter in BENCHMARKS:
        folder = resources.files("vla_bench.benchmarks").joinpath(adapter, "protocols")
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.endswith(".toml"):
                found[f"{adapter}/{entry.name.removesuffix('.toml')}"] = entry
    return found


def protocol_ids(benchmark: str | None = None) -> list[str]:
    ids = sorted(_protocol_files())
    return [i for i in ids if benchmark is None or i.split("/", 1)[0] == benchmark]


@functools.cache
def get_protocol(protocol_id: str, *, allow_deprecated: bool = False) -> Protocol:
    files = _protocol_files()
    if protocol_id not in files:
        raise unknown_name_error("protocol", protocol_id, files)
    data = tomllib.loads(files[protocol_id].read_text(encoding="utf-8"))
    try:
        protocol = Protocol.model_validate(data)
    except ValueError as exc:
        raise UserError(f"protocol file for {protocol_id} is invalid: {exc}") from exc
    if protocol.id != protocol_id:
        raise UserError(f"protocol file {protocol_id}.toml declares id {protocol.id!r}; they must agree")
    if protocol.deprecated and not allow_deprecated:
        raise UserError(f"protocol {protocol_id} is deprecated: {protocol.deprecated}")
    return protocol


def load_protocol(reference: str) -> Protocol:
    """A registered protocol id, or the path of a protocol TOML file (for developing a new protocol)."""
    path = Path(reference)
    if reference.endswith(".toml") and not path.is_file():  # a path, not an id: say so, not "unknown protocol"
        raise UserError(f"protocol file {path}: file not found")
    if reference.endswith(".toml"):
        try:
            return Protocol.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"protocol file {path} is invalid: {exc}") from exc
    return get_protocol(reference)
