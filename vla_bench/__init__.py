"""vla-bench: comparable, reproducible, fast evaluation of robot policies, and a leaderboard for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vla_bench.threads import limit_math_threads

limit_math_threads()

if TYPE_CHECKING:
    from vla_bench.harness.api import evaluate

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":  # lazy: `import vla_bench` stays light for the server and the CLI's start-up
        from vla_bench.harness.api import evaluate  # noqa: PLC0415

        return evaluate
    raise AttributeError(f"module 'vla_bench' has no attribute {name!r}")
