"""The import rules of docs/ARCHITECTURE.md: which part of vla_bench may import which, and no import cycles.

The graph is built from the source (ast), not from what happens to be imported at test time, so it sees lazy
(function-level) imports, relative imports, ``from package import submodule`` and the registries' lazy
``"vla_bench.module:object"`` entries. Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vla_bench"
ROOT = "__init__"  # the package's own __init__ (`import vla_bench`)

# part -> parts (or single modules, e.g. "harness.api"; "pkg.__init__" is the package's own module, not its
# submodules) it may import besides itself. A part is a package or a module under vla_bench; a module belongs to
# the longest part that prefixes it ("harness.api" is its own part). From the bottom up:
ALLOWED: dict[str, set[str]] = {
    "spec": set(),  # the contract: dataclasses, schemas, wire messages; imports nothing of vla_bench
    "threads": set(),  # math-library thread limits, set before numpy loads
    "datasets": {"spec"},  # offline-RL data on disk: read by trainers, written by `collect`
    "benchmarks": {"spec"},  # adapters: one simulator each behind the spec's session protocol
    "runtimes": {"spec", "benchmarks.__init__"},  # benchmark runtimes: the lightweight registry, never an adapter
    "web": {"spec"},  # templates, charts, formatting of the leaderboard pages
    "agents": {"spec"},  # policies and the loaders that turn `--agent` into one; gateways; serve-policy
    # protocol discovery and each protocol's episode plan: package data, read without loading any adapter
    "protocols": {"spec", "benchmarks.__init__"},
    # statistics over stored episode records: what the harness scores a run with and the server recomputes
    "scoring": {"spec"},
    "harness": {"spec", "benchmarks", "agents", "datasets", "threads", "runtimes", "protocols", "scoring"},
    # trainers sit above harness and benchmarks: they build envs through the adapters and evaluate through
    # the harness's Python API only
    "training": {"spec", "datasets", "agents", "benchmarks", "harness.api"},
    # the leaderboard server: the contract, protocols and scoring only (never the harness, agents or simulators)
    "server": {"spec", "web", "threads", "protocols", "scoring"},
    ROOT: {"threads", "harness.api"},  # `vla_bench.evaluate`, lazily
    # the top: every typer command (library modules import no typer), so it may import every other part
    "cli": {"spec", "threads", "datasets", "benchmarks", "runtimes", "web", "agents", "protocols", "scoring", "harness",
            "training", "server", ROOT},
}
# single modules (exactly these, not their submodules) allowed more than their part
MODULE_EXTRAS: dict[str, set[str]] = {
    # the verify-worker's re-run (never imported by the API server)
    "server.verification.rerun": {"harness", "agents", "runtimes"},
    # `doctor --data` checks a benchmark's data with its adapter's own path helpers (lazily, in the check)
    "runtimes.data_check": {"benchmarks"},
    # --agent lerobot:PATH finds its policy runtime's interpreter
    "agents.lerobot_client": {"runtimes.resolve"},
    # benchmarks/__init__.py: the runtimes registry also names the LeRobot policy runtime (a lazy entry)
    "benchmarks": {"agents.lerobot_runtime"},
}

# Cycles known today, each with why it is not fixed yet. The test fails on any other cycle, and on an entry here
# that is no longer a cycle (so the list only shrinks).
KNOWN_CYCLES: dict[frozenset[str], str] = {}  # a cycle that cannot be broken yet: its modules -> why

_REGISTRY_ENTRY = re.compile(r"(vla_bench(?:\.\w+)+):\w+(?:\.\w+)*")


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _edges(name: str, path: Path, modules: set[str]) -> dict[str, int]:
    """The vla_bench modules `name` imports (at any depth of its code) -> the first line that does."""
    out: dict[str, int] = {}
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

    def add(target: str, line: int) -> None:
        if target in modules and target != name:
            out.setdefault(target, line)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                module = ".".join(base + ([child.module] if child.module else []))
                for alias in child.names:  # `from pkg import sub` imports the submodule pkg.sub
                    sub = f"{module}.{alias.name}"
                    add(sub if sub in modules else module, child.lineno)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                entry = _REGISTRY_ENTRY.fullmatch(child.value)
                if entry:
                    add(entry.group(1), child.lineno)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    paths = {_module_name(path, package): path for path in package.rglob("*.py")}
    return {name: _edges(name, path, set(paths)) for name, path in paths.items()}


@functools.cache
def _graph() -> dict[str, dict[str, int]]:
    graph = import_graph(PACKAGE)
    assert "vla_bench.harness.runner" in graph, f"no vla_bench package at {PACKAGE}"  # never pass on nothing
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of two or more modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def cycle_chain(graph: dict[str, dict[str, int]], group: set[str]) -> str:
    """One shortest cycle through the group's first module, as `a -> b (line N) -> ... -> a`."""
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node]):
            if target == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                chain.reverse()  # start ... node, then back to start
                pairs = zip(chain, [*chain[1:], start], strict=True)
                hops = [f"{b} (line {graph[a][b]} of {a.rsplit('.', 1)[-1]})" for a, b in pairs]
                return " -> ".join([start, *hops])
            if target in group and target not in came_from and target != start:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"{sorted(group)} holds no cycle through {start}")


def _relative(module: str) -> str:
    return module.removeprefix("vla_bench").lstrip(".") or ROOT


def part_of(module: str) -> str | None:
    """The longest part in ALLOWED that prefixes the module (relative to vla_bench)."""
    matches = [part for part in ALLOWED if module == part or module.startswith(f"{part}.")]
    return max(matches, key=len) if matches else None


def _may_import(module: str, target: str) -> bool:
    part, target_part = part_of(module), part_of(target)
    if part == target_part:
        return True
    allowed = ALLOWED[part or ""] | MODULE_EXTRAS.get(module, set())
    for entry in allowed:
        if entry.endswith(".__init__") and target == entry.removesuffix(".__init__"):
            return True
        if entry in ALLOWED and entry == target_part:
            return True
        if entry not in ALLOWED and (target == entry or target.startswith(f"{entry}.")):
            return True
    return False


def test_no_import_cycles_but_the_known_ones() -> None:
    graph = _graph()
    found = {frozenset(_relative(m) for m in group): group for group in strongly_connected(graph)}
    new = [cycle_chain(graph, group) for key, group in found.items() if key not in KNOWN_CYCLES]
    gone = [sorted(key) for key in KNOWN_CYCLES if key not in found]
    assert not new, "import cycles (break each by moving the shared piece into a lower module):\n" + "\n".join(new)
    assert not gone, f"no longer cycles: remove them from KNOWN_CYCLES: {gone}"


def test_each_part_imports_only_what_the_design_allows() -> None:
    graph = _graph()
    unplaced = sorted(_relative(m) for m in graph if part_of(_relative(m)) is None)
    assert not unplaced, f"modules in no part of ALLOWED (add their part and its rules): {unplaced}"
    violations = [f"vla_bench.{_relative(module)} imports {target} (line {line})"
                  for module, targets in sorted(graph.items()) for target, line in sorted(targets.items())
                  if not _may_import(_relative(module), _relative(target))]
    assert not violations, "\n".join(violations)


def test_only_the_cli_package_imports_typer() -> None:
    # library modules stay usable (and importable) without the command line's dependencies
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path, PACKAGE)
        if name == "vla_bench.cli" or name.startswith("vla_bench.cli."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offenders += [f"{name} (line {node.lineno})" for n in names if n == "typer" or n.startswith("typer.")]
    assert not offenders, "typer outside vla_bench/cli/: " + ", ".join(offenders)


def test_the_graph_sees_lazy_relative_submodule_and_registry_imports(tmp_path: Path) -> None:
    package = tmp_path / "vla_bench"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from vla_bench.sub import b\n",  # lazy, and `from package import submodule`
        "sub/__init__.py": "from . import c\n",  # relative
        "sub/b.py": "from ..a import f\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import vla_bench.d\n",
        "sub/c.py": "ENTRY = 'vla_bench.d:thing'\n",  # a registry's lazy entry
        "d.py": "",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    graph = import_graph(package)
    assert graph["vla_bench.a"] == {"vla_bench.sub.b": 2}
    assert graph["vla_bench.sub"] == {"vla_bench.sub.c": 1}
    assert graph["vla_bench.sub.b"] == {"vla_bench.a": 1}  # the TYPE_CHECKING import is not an edge
    assert graph["vla_bench.sub.c"] == {"vla_bench.d": 1}
    (group,) = strongly_connected(graph)
    assert group == {"vla_bench.a", "vla_bench.sub.b"}
    assert cycle_chain(graph, group) == "vla_bench.a -> vla_bench.sub.b (line 2 of a) -> vla_bench.a (line 1 of b)"


def test_the_rules_read_as_documented() -> None:
    assert part_of("training.envs") == "training" and part_of("agents.loaders") == "agents"
    assert _may_import("training.envs", "benchmarks.mujoco.adapter")  # trainers sit above benchmarks
    assert not _may_import("harness.runner", "training.online")  # ...and above the harness
    assert _may_import("cli.train", "training.online") and not _may_import("training.online", "cli.train")
    assert not _may_import("agents.loaders", "training.offline")
    assert _may_import("runtimes.registry", "benchmarks")  # the registry, not an adapter
    assert not _may_import("runtimes.doctor", "benchmarks.mujoco.adapter")
    assert _may_import("benchmarks", "agents.lerobot_runtime")  # an extra of that module alone
    assert not _may_import("benchmarks.mujoco.adapter", "agents.lerobot_runtime")
    assert _may_import("server.validation", "scoring.scores")
    assert not _may_import("server.validation", "harness.runner")
    assert _may_import("server.services.board_ranks", "scoring.ranking")
    assert _may_import("server.pages.overview", "protocols") and not _may_import("server.pages.overview", "harness")
    assert not _may_import("scoring.scores", "protocols") and not _may_import("protocols.catalog", "harness")


def test_the_server_loads_without_the_harness_agents_or_simulators() -> None:
    # the static rules above, checked once at run time: what importing the whole server actually loads
    probe = ("import sys, vla_bench.server.main; "
             "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['vla_bench', 'harness'], "
             "['vla_bench', 'agents'], ['vla_bench', 'training']) or m in ('mujoco', 'gymnasium', 'torch')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
