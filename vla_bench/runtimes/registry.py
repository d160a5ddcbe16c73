"""Which benchmarks declare a runtime, loaded lazily from ``benchmarks.RUNTIMES`` ``module:attr`` entries."""

from __future__ import annotations

import importlib

from vla_bench import benchmarks
from vla_bench.spec.errors import UserError, unknown_name_error
from vla_bench.spec.runtime import RuntimeSpec


def runtime_spec(benchmark: str) -> RuntimeSpec | None:
    """The runtime a benchmark declares, or ``None`` when it runs in the main interpreter."""
    if benchmark not in benchmarks.ADAPTERS and benchmark not in benchmarks.RUNTIMES:
        raise unknown_name_error("benchmark", benchmark, benchmarks.ADAPTERS)
    entry = benchmarks.RUNTIMES.get(benchmark)
    if entry is None:
        return None
    module_name, _, attr = entry.partition(":")
    try:
        spec = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"the runtime of benchmark {benchmark!r} is registered as {entry!r}, which does not "
                        f"load: {exc}") from exc
    if not isinstance(spec, RuntimeSpec):
        raise UserError(f"{entry!r} (runtime of {benchmark!r}) is a {type(spec).__name__}, not a RuntimeSpec")
    return spec


def benchmarks_with_runtimes() -> list[str]:
    return sorted(benchmarks.RUNTIMES)
