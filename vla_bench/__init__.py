"""vla-bench: comparable, reproducible, fast evaluation of robot policies, and a leaderboard for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vla_bench.threads import limit_math_threads

limit_math_threads()

if TYPE_CHECKING:
    from vla_bench.harness.api import EvalConfig, TrainingRun, evaluate

__all__ = ["EvalConfig", "TrainingRun", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in __all__:  # lazy: `import vla_bench` stays light for the server and the CLI's start-up
        from vla_bench.harness import api  # noqa: PLC0415

        return getattr(api, name)
    raise AttributeError(f"module 'vla_bench' has no attribute {name!r}")
