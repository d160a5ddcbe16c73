"""``vla-bench setup``: build a benchmark's runtime (a venv) or adopt an interpreter the user brings.

vla_bench itself is not installed into a runtime: the executor puts the orchestrator's own package on the
workers' PYTHONPATH (``harness.local_executor``), so a runtime always runs the orchestrator's code and a
checkout edited after ``setup`` needs no rebuild. What could still differ (a Ray node's install, an adopted
interpreter with its own vla_bench first on its path) is caught by the version handshake (``harness.handshake``).
Only vla_bench's own worker-side dependencies are installed next to the runtime's requirements.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from vla_bench.runtimes import store
from vla_bench.runtimes.check import RuntimeCheck, check_runtime
from vla_bench.runtimes.registry import runtime_spec
from vla_bench.runtimes.resolve import runtime_env
from vla_bench.spec.errors import UserError
from vla_bench.spec.runtime import RuntimeSpec

# What the env worker imports besides the runtime's own stack (spec: pydantic; wire: msgpack, numpy;
# recording videos: imageio + ffmpeg). Ranges as in pyproject.toml; the runtime's own pins may narrow them.
WORKER_REQUIREMENTS = ("numpy>=1.26", "msgpack>=1.0", "pydantic>=2.6", "imageio>=2.34", "imageio-ffmpeg>=0.5")
WORKER_PYTHON = ">=3.11"  # vla_bench's own requires-python: the worker runs vla_bench's code (tomllib, 3.11 syntax)

Echo = Callable[[str], None]


@dataclass(frozen=True)
class SetupResult:
    benchmark: str
    kind: Literal["built", "already-built", "adopted", "main"]
    python: str
    directory: Path | None = None
    seconds: float | None = None
    size_bytes: int | None = None
    check: RuntimeCheck | None = None


def with_worker_requirements(spec: RuntimeSpec) -> RuntimeSpec:
    """``spec`` plus what the env worker needs (the full check of an interpreter meant for workers)."""
    return replace(spec, requirements=(*spec.requirements, *WORKER_REQUIREMENTS),
                   python=f"{spec.python},{WORKER_PYTHON}" if spec.python else WORKER_PYTHON)


def directory_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
    return total


def _run(command: Sequence[str], what: str, echo: Echo) -> None:
    echo(f"  $ {' '.join(command)}")
    try:
        done = subprocess.run(list(command), stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        raise UserError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise UserError(f"{what} failed (exit code {done.returncode}); see the output above. The half-built "
                        f"runtime is rebuilt from scratch by the next `vla-bench setup`")


def base_interpreter(spec: RuntimeSpec) -> str:
    """The Python to build ``spec``'s venv from: this one if its version fits ``spec.python``, else the first of
    ``python3.N`` on PATH or pyenv's installed versions that does (a runtime may need another Python: lerobot 3.12)."""
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415

    wanted = SpecifierSet(spec.python or WORKER_PYTHON)
    if wanted.contains(".".join(map(str, sys.version_info[:3]))):
        return sys.executable
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob("3.*/bin/python3"), reverse=True) if pyenv.is_dir() else []
    for minor in range(20, 10, -1):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        done = subprocess.run([str(candidate), "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0 and wanted.contains(done.stdout.strip()):
            return str(candidate)
    raise UserError(f"runtime {spec.name!r} needs Python {spec.python}; none found (this is "
                    f"{sys.version.split()[0]}; looked on PATH and in {pyenv}). Install one (`pyenv install 3.12`), "
                    f"or adopt an interpreter that has the requirements: `vla-bench setup {spec.name} --python PATH`")


def build_runtime(spec: RuntimeSpec, *, force: bool = False, echo: Echo = print, system_site_packages: bool = False,
                  worker_requirements: Sequence[str] = WORKER_REQUIREMENTS,
                  pip_options: Sequence[str] = ()) -> SetupResult:
    """Build (or find built) the venv of ``spec``. A directory without the completion marker is half-built:
    it is deleted and built again. ``system_site_packages`` lets the venv see the base interpreter's packages."""
    directory = store.runtime_dir(spec)
    python = store.venv_python(directory)
    if store.built_marker(spec) is not None and not force:
        marker = store.built_marker(spec) or {}
        echo(f"runtime {spec.name!r} is already built: {directory} ({marker.get('size_bytes', 0) / 1e6:.0f} MB, "
             f"installed in {marker.get('install_seconds', 0):.0f} s); --force rebuilds it")
        return SetupResult(spec.name, "already-built", str(python), directory,
                           marker.get("install_seconds"), marker.get("size_bytes"))
    if directory.exists():
        echo(f"removing {'the previous' if force else 'a half-built'} runtime at {directory}")
        shutil.rmtree(directory)
    started = time.perf_counter()
    base = base_interpreter(spec)
    echo(f"[1/3] creating a virtual environment for runtime {spec.name!r} at {directory} (from {base})")
    directory.parent.mkdir(parents=True, exist_ok=True)
    _run([base, "-m", "venv", *(["--system-site-packages"] if system_site_packages else []),
          str(directory)], "creating the virtual environment", echo)
    requirements = [*spec.requirements, *worker_requirements]
    echo(f"[2/3] installing {len(requirements)} requirements: {' '.join(requirements)}")
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *pip_options, *requirements],
         "pip install", echo)
    echo("[3/3] checking the runtime")
    full = replace(spec, requirements=tuple(requirements))
    check = check_runtime(full, str(python))
    if not check.ok:
        raise UserError(f"the runtime {spec.name!r} was installed but does not satisfy its spec: "
                        f"{check.summary()}. Fix the requirements, then `vla-bench setup {spec.name} --force`")
    imports = check_runtime(replace(spec, requirements=()), str(python), check_imports=True,
                            env={**os.environ, **runtime_env(spec, directory)})
    for problem in imports.problems:  # may need what the user brings (assets): a warning, `doctor` shows it too
        echo(f"warning: {problem}")
    seconds = time.perf_counter() - started
    size = directory_size(directory)
    store.write_marker(spec, {"python": str(python), "install_seconds": round(seconds, 1), "size_bytes": size,
                              "requirements": requirements, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                       time.gmtime())})
    echo(f"built runtime {spec.name!r} in {seconds:.1f} s, {size / 1e6:.0f} MB: {python}")
    return SetupResult(spec.name, "built", str(python), directory, seconds, size, check)


def adopt_interpreter(spec: RuntimeSpec, python: str, *, force: bool = False, echo: Echo = print) -> SetupResult:
    """Check ``python`` against the runtime (and what the env worker needs) and record it as the runtime's
    interpreter. Missing requirements refuse the adoption unless ``force``."""
    path = Path(python).expanduser()
    if not path.exists():
        raise UserError(f"--python {python}: no such file; give the path of a Python interpreter "
                        f"(e.g. /path/to/venv/bin/python)")
    absolute = str(path.absolute())  # not resolved: a venv's python is a symlink to its base interpreter
    echo(f"checking {absolute} against runtime {spec.name!r}")
    check = check_runtime(with_worker_requirements(spec), absolute, check_imports=True,
                          env={**os.environ, **runtime_env(spec, path.parent.parent)})
    if check.python_version is None:
        raise UserError(f"--python {python}: {'; '.join(check.problems)}")
    if not check.ok:
        listing = "\n".join(f"  - {problem}" for problem in check.problems)
        if not force:
            raise UserError(f"{absolute} does not satisfy runtime {spec.name!r}:\n{listing}\nInstall what is "
                            f"missing into it, or add --force to adopt it anyway")
        echo(f"warning: adopting {absolute} although it does not satisfy runtime {spec.name!r}:\n{listing}")
    config = store.record_adopted(store.Adopted(spec.name, absolute, spec.key(), check.problems))
    echo(f"runtime {spec.name!r} now uses {absolute} (python {check.python_version}); recorded in {config}")
    return SetupResult(spec.name, "adopted", absolute, path.parent.parent, check=check)


def setup(benchmark: str, *, python: str | None = None, force: bool = False, forget: bool = False,
          echo: Echo = print) -> SetupResult:
    """What ``vla-bench setup`` does for one benchmark."""
    spec = runtime_spec(benchmark)
    if spec is None:
        if python is not None:
            raise UserError(f"benchmark {benchmark!r} declares no runtime: it runs in the main interpreter, so "
                            f"there is nothing to adopt --python for")
        echo(f"benchmark {benchmark!r} runs in the main interpreter ({sys.executable}): nothing to set up")
        return SetupResult(benchmark, "main", sys.executable)
    if forget:
        removed = store.forget_adopted(spec.name)
        echo(f"runtime {spec.name!r}: " + ("no longer uses its adopted interpreter" if removed
                                             else "had no adopted interpreter"))
        if python is None:
            return SetupResult(benchmark, "main", sys.executable)
    if python is not None:
        result = adopt_interpreter(spec, python, force=force, echo=echo)
    else:
        if store.adopted(spec.name) is not None:
            echo(f"note: runtime {spec.name!r} uses an adopted interpreter, which comes before a built runtime; "
                 f"`vla-bench setup {benchmark} --forget` stops using it")
        result = build_runtime(spec, force=force, echo=echo)
    _report_data(benchmark, spec, result, echo)
    return result


def _report_data(benchmark: str, spec: RuntimeSpec, result: SetupResult, echo: Echo) -> None:
    """What pip could not install (LIBERO's assets, CALVIN's dataset): present, or how to provide it."""
    from vla_bench.runtimes.data_check import data_problem  # noqa: PLC0415

    env = {**os.environ, **runtime_env(spec, result.directory or Path(result.python).parent.parent)}
    problem = data_problem(benchmark, result.python, env)
    if problem is not None:
        echo(f"not ready yet: {problem}")
    elif spec.user_provided:
        echo(f"{benchmark}: what pip cannot install was found too (checked by `vla-bench doctor {benchmark}`)")
