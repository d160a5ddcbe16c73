"""The import rules of DESIGN.md: which part of vla_bench may import which (no cycles, spec is a leaf)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vla_bench"

# part -> parts it may import (besides itself). "harness.scoring" etc. name single modules.
ALLOWED: dict[str, set[str]] = {
    "spec": set(),
    "datasets": {"spec"},  # offline-RL data on disk: read by trainers, written by `collect`
    "benchmarks": {"spec"},
    "agents": {"spec", "datasets", "harness.api"},  # trainers may call the harness's evaluate API
    "harness": {"spec", "benchmarks", "agents", "datasets", "threads", "runtimes"},
    "server": {"spec", "web", "harness.scoring", "harness.compare", "harness.registry", "harness.plan",
               "harness.bundle", "threads"},
    "web": {"spec"},
    "runtimes": {"spec", "benchmarks"},  # benchmark runtimes: the lightweight registry only, never an adapter
}
# single modules allowed more than their part: the verify-worker's re-run (never imported by the API server)
MODULE_EXTRAS: dict[str, set[str]] = {"server/verification/rerun.py": {"harness", "agents", "runtimes"},
                                      # --agent lerobot:PATH finds its policy runtime's interpreter
                                      "agents/lerobot_client.py": {"runtimes.resolve"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from vla_bench.harness import registry` imports harness.registry, not all of harness
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n.removeprefix("vla_bench.") for n in names if n.startswith("vla_bench.")}


def test_each_part_imports_only_what_the_design_allows() -> None:
    violations = []
    for part, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / part).rglob("*.py")):
            extra = MODULE_EXTRAS.get(path.relative_to(PACKAGE).as_posix(), set())
            for name in _imports(path):
                top = name.split(".")[0]
                if top == part or any(name == a or name.startswith(f"{a}.") for a in allowed | extra):
                    continue
                if top in {p for p in ALLOWED if p != part} or top in {"cli", "harness"}:
                    violations.append(f"{path.relative_to(PACKAGE.parent)} imports vla_bench.{name}")
    assert not violations, "\n".join(violations)
