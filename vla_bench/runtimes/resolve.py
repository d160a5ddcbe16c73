"""Which interpreter a benchmark's env workers run in.

Order: an interpreter the user adopted (``vla-bench setup NAME --python PATH``), then a runtime built by
``vla-bench setup NAME``, then this interpreter if it satisfies the runtime; otherwise the benchmark cannot
run and the error says how to fix that. Benchmarks without a runtime always run in this interpreter.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from vla_bench.runtimes import store
from vla_bench.runtimes.registry import runtime_spec
from vla_bench.spec.errors import UserError
from vla_bench.spec.runtime import RuntimeSpec

MAIN: Final = "main"
ADOPTED: Final = "adopted"
BUILT: Final = "built"
MISSING: Final = "missing"


ResolutionKind = Literal["main", "adopted", "built", "missing"]


@dataclass(frozen=True)
class Resolution:
    benchmark: str
    kind: ResolutionKind
    python: str  # the env workers' interpreter ("" when missing)
    spec: RuntimeSpec | None = None
    directory: Path | None = None  # the runtime's root: its venv, or the adopted interpreter's prefix
    detail: str = ""  # what is wrong (missing), or a note (adopted against an older spec)

    @property
    def isolated(self) -> bool:
        """The workers run in another interpreter than this one (they get vla_bench through PYTHONPATH)."""
        # compare the bin folders, not the resolved binaries: a venv's python links to its base interpreter's
        return self.kind in (ADOPTED, BUILT) and Path(self.python).absolute().parent != Path(
            sys.executable).absolute().parent

    def worker_env(self) -> dict[str, str]:
        """The runtime's environment variables, ``{runtime_dir}`` filled in."""
        return {} if self.spec is None else runtime_env(self.spec, self.directory or Path(sys.prefix))


def runtime_env(spec: RuntimeSpec, root: Path) -> dict[str, str]:
    """``spec.env`` for a runtime rooted at ``root`` (its venv, or an adopted interpreter's prefix)."""
    return {key: value.replace("{runtime_dir}", str(root)) for key, value in spec.env.items()}


def resolve(benchmark: str) -> Resolution:
    """Where ``benchmark`` runs (``kind`` says how it was found, or ``missing``). ``benchmark`` may also be a
    ``module:attr`` adapter path (plugged-in adapters run in this interpreter)."""
    spec = None if ":" in benchmark else runtime_spec(benchmark)
    if spec is None:
        return Resolution(benchmark, MAIN, sys.executable)
    chosen = store.adopted(spec.name)
    if chosen is not None:
        if not Path(chosen.python).exists():
            raise UserError(f"the interpreter adopted for runtime {spec.name!r}, {chosen.python}, no longer exists: "
                            f"adopt another with `vla-bench setup {benchmark} --python PATH`, or "
                            f"`vla-bench setup {benchmark} --forget` to stop using it")
        note = "" if chosen.key == spec.key() else (
            f"adopted for an older version of the runtime's requirements; recheck with "
            f"`vla-bench setup {benchmark} --python {chosen.python}`")
        return Resolution(benchmark, ADOPTED, chosen.python, spec, Path(chosen.python).parent.parent, note)
    if store.built_marker(spec) is not None:
        directory = store.runtime_dir(spec)
        return Resolution(benchmark, BUILT, str(store.venv_python(directory)), spec, directory)
    from vla_bench.runtimes.check import check_runtime  # noqa: PLC0415 - packaging: only for a runtime benchmark

    check = check_runtime(spec, sys.executable)
    if check.ok:
        return Resolution(benchmark, MAIN, sys.executable, spec, Path(sys.prefix))
    return Resolution(benchmark, MISSING, "", spec, None, check.summary())


def missing_error(resolution: Resolution) -> UserError:
    spec = resolution.spec
    assert spec is not None
    name = resolution.benchmark
    brought = f" It also needs what pip cannot install: {spec.user_provided}" if spec.user_provided else ""
    return UserError(
        f"benchmark {name!r} needs its runtime {spec.name!r}, and this interpreter ({sys.executable}) does not "
        f"satisfy it: {resolution.detail}. Run `vla-bench setup {name}` to build it (a virtual environment under "
        f"{store.runtimes_dir()}), or `vla-bench setup {name} --python PATH` to use an interpreter you already "
        f"have.{brought}"
    )


def require(benchmark: str) -> Resolution:
    """Like :func:`resolve`, but a missing runtime is a user error naming the fix."""
    resolution = resolve(benchmark)
    if resolution.kind == MISSING:
        raise missing_error(resolution)
    return resolution
