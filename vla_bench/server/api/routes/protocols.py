"""Benchmarks and protocols known to this server (its registry), and the JSON Schemas of a bundle."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from vla_bench import protocols
from vla_bench.server.api.deps import BaseUrlDep
from vla_bench.server.schemas import BenchmarkPublic, ErrorPublic, ProtocolPublic
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UnknownNameError
from vla_bench.spec.schemas import load_schema

router = APIRouter(tags=["protocols"])


def known_protocol(protocol_id: str) -> Protocol:
    """The registry's protocol, or 404 with the "did you mean" of the registry."""
    try:
        return protocols.get_protocol(protocol_id, allow_deprecated=True)
    except UnknownNameError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/benchmarks", response_model=list[BenchmarkPublic])
def list_benchmarks() -> list[BenchmarkPublic]:
    return [BenchmarkPublic(name=name, description=protocols.benchmark_description(name),
                            protocols=protocols.protocol_ids(name)) for name in protocols.benchmark_names()]


@router.get("/protocols", response_model=list[ProtocolPublic])
def list_protocols(base_url: BaseUrlDep, benchmark: str | None = None) -> list[ProtocolPublic]:
    """Every protocol (of one benchmark with ``?benchmark=``), with the hash a bundle must carry."""
    return [ProtocolPublic.of(known_protocol(pid), base_url) for pid in protocols.protocol_ids(benchmark)]


@router.get("/protocols/{protocol_id:path}", response_model=ProtocolPublic, responses={404: {"model": ErrorPublic}})
def read_protocol(protocol_id: str, base_url: BaseUrlDep) -> ProtocolPublic:
    return ProtocolPublic.of(known_protocol(protocol_id), base_url)


@router.get("/schemas/{name}", responses={404: {"model": ErrorPublic}})
def read_schema(name: str) -> dict[str, object]:
    """The JSON Schema of ``summary`` (summary.json) or ``episode`` (one line of episodes.jsonl)."""
    if name not in ("summary", "episode"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schema {name!r}: use 'summary' or 'episode'")
    return load_schema(name)
