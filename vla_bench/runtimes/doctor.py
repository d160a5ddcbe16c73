"""``vla-bench doctor``: what is installed, where each benchmark runs, and which renderer works.

Everything here is a cheap check: package versions come from metadata (nothing is imported), a runtime's
interpreter is probed in a subprocess, and the renderer check makes one 16x16 MuJoCo GL context.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

from vla_bench import benchmarks
from vla_bench.runtimes import resolve as resolving
from vla_bench.runtimes import store
from vla_bench.runtimes.build import with_worker_requirements
from vla_bench.runtimes.check import check_runtime
from vla_bench.runtimes.data_check import data_problem
from vla_bench.runtimes.registry import runtime_spec
from vla_bench.spec.errors import UserError, unknown_name_error

KEY_PACKAGES = (
    "numpy", "mujoco", "gymnasium", "gymnasium-robotics", "metaworld", "gym-hil", "robosuite", "minari", "pybullet",
    "libero", "torch", "onnxruntime", "stable-baselines3", "ray",
)


@dataclass(frozen=True)
class BenchmarkStatus:
    benchmark: str
    runtime: resolving.ResolutionKind | Literal["error"]
    python: str
    ok: bool
    detail: str  # problems found and how to fix them, or a note


def installed_packages(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def benchmark_status(benchmark: str, *, check_imports: bool = False) -> BenchmarkStatus:
    """Where ``benchmark``'s env workers would run, and whether that interpreter has what they need."""
    try:
        resolution = resolving.resolve(benchmark)
    except UserError as exc:
        return BenchmarkStatus(benchmark, "error", "", False, str(exc))
    spec = resolution.spec
    if resolution.kind == resolving.MISSING:
        assert spec is not None
        # lead with what to do; what this interpreter happens to lack comes last (it is not the fix)
        steps = [f"no interpreter is set up for it. Fix: `vla-bench setup {benchmark}` (builds a venv) or "
                 f"`vla-bench setup {benchmark} --python PATH` (adopts one)."]
        if spec.user_provided:
            steps.append(f"It also needs: {spec.user_provided.rstrip('.')}.")
        if benchmark == "calvin" and os.environ.get("VLA_BENCH_CALVIN_DATASET"):  # a dataset named: is it one?
            steps.append(data_problem(benchmark, "", os.environ) or "The CALVIN dataset named is a validation folder.")
        steps.append(f"(This interpreter does not satisfy it either: {resolution.detail}.)")
        return BenchmarkStatus(benchmark, resolution.kind, "", False, " ".join(steps))
    if spec is None:
        return BenchmarkStatus(benchmark, resolution.kind, resolution.python, True, "no runtime declared")
    full = with_worker_requirements(spec) if resolution.isolated else spec
    check = check_runtime(full, resolution.python, env={**os.environ, **resolution.worker_env()},
                          check_imports=check_imports)
    worker_env = {**os.environ, **resolution.worker_env()}
    missing_data = data_problem(benchmark, resolution.python, worker_env) if check.ok else None
    notes = [missing_data] if missing_data else []  # the blocker a user can act on first
    notes += [check.summary()] if check.problems else []
    if resolution.detail:
        notes.append(resolution.detail)
    if not check.ok:
        notes.append(f"fix: install what is missing, or `vla-bench setup {benchmark} --force`")
    where = {resolving.BUILT: f"built at {resolution.directory}", resolving.ADOPTED: "adopted",
             resolving.MAIN: "satisfied by this interpreter"}[resolution.kind]
    return BenchmarkStatus(benchmark, resolution.kind, resolution.python, check.ok and missing_data is None,
                           "; ".join(notes) if notes else f"runtime {spec.name!r} ({spec.key()}) {where}")


def renderer_status() -> tuple[str, bool, str]:
    """``(MUJOCO_GL, works, detail)``: tries to make a tiny GL context with the backend in use."""
    backend = os.environ.get("MUJOCO_GL", "egl")
    if backend == "osmesa" and ctypes.util.find_library("OSMesa") is None:
        return backend, False, "libOSMesa is not installed (`apt-get install libosmesa6`), or use MUJOCO_GL=egl"
    if backend == "glfw" and not os.environ.get("DISPLAY"):
        return backend, False, "glfw needs a display; headless machines use MUJOCO_GL=egl"
    code = "import mujoco; c = mujoco.GLContext(16, 16); c.make_current(); c.free(); print('ok')"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "MUJOCO_GL": backend}, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return backend, False, "making a GL context took over 60 s"
    if done.returncode == 0 and done.stdout.strip().endswith("ok"):
        return backend, True, "a 16x16 GL context was made"
    tail = " | ".join(done.stderr.strip().splitlines()[-2:])
    return backend, False, f"cannot make a GL context: {tail}"


def statuses(benchmark: str | None = None) -> list[BenchmarkStatus]:
    known = {*benchmarks.ADAPTERS, *benchmarks.RUNTIMES}  # policy runtimes (lerobot) beside the benchmarks
    if benchmark is not None:
        if benchmark not in known:
            raise unknown_name_error("benchmark", benchmark, known)
        return [benchmark_status(benchmark, check_imports=True)]
    return [benchmark_status(name) for name in sorted(known)]


def describe_locations() -> dict[str, str]:
    return {"built runtimes": str(store.runtimes_dir()), "adopted interpreters": str(store.config_dir() /
                                                                                   store.ADOPTED_FILE)}


def declared_runtime(benchmark: str) -> str:
    spec = runtime_spec(benchmark)
    return "" if spec is None else f"{spec.name} ({', '.join(spec.requirements)}; python {spec.python})"
