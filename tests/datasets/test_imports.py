"""vla_bench.datasets imports only vla_bench.spec (besides the standard library, numpy, h5py and minari), so
trainers and other parts can use it without the harness or a simulator (DESIGN.md import rules)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vla_bench" / "datasets"
THIRD_PARTY = {"numpy", "h5py", "minari"}


def test_the_datasets_package_imports_only_spec_and_its_libraries() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                     else [])
            for name in names:
                top = name.split(".")[0]
                if name.startswith("vla_bench."):
                    if not name.startswith(("vla_bench.spec", "vla_bench.datasets")):
                        violations.append(f"{path.name} imports {name}")
                elif top not in THIRD_PARTY and top not in sys.stdlib_module_names:
                    violations.append(f"{path.name} imports {name}")
    assert not violations, violations


def test_importing_it_loads_no_simulator_and_no_harness() -> None:
    code = ("import sys, vla_bench.datasets; "
            "bad = [m for m in ('mujoco', 'gymnasium', 'minari', 'vla_bench.harness', 'vla_bench.benchmarks', "
            "'torch') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
