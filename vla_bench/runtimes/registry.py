"""Which benchmarks declare a runtime: ``benchmarks.RUNTIME_SPECS``, a lazy registry of ``RuntimeSpec`` entries."""

from __future__ import annotations

from vla_bench import benchmarks
from vla_bench.spec.runtime import RuntimeSpec


def runtime_spec(benchmark: str) -> RuntimeSpec | None:
    """The runtime a benchmark declares, or ``None`` when it runs in the main interpreter."""
    if benchmark not in benchmarks.RUNTIME_SPECS:
        if benchmark not in benchmarks.BENCHMARKS:
            raise benchmarks.BENCHMARKS.unknown(benchmark)
        return None
    return benchmarks.RUNTIME_SPECS.get(benchmark)


def benchmarks_with_runtimes() -> list[str]:
    return sorted(benchmarks.RUNTIME_SPECS)
