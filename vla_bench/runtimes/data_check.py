"""What pip cannot install but a benchmark needs before its first episode: LIBERO's assets, CALVIN's dataset.

``vla-bench doctor`` and ``vla-bench setup`` ask :func:`data_problem`, so a missing asset folder or dataset is
found there, not by the first evaluation. LIBERO's assets are looked up by the runtime's own interpreter (they
may be packages installed into it); CALVIN's dataset is a folder named by an environment variable.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from vla_bench.spec.errors import UserError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding vla_bench/, for a runtime's interpreter
_LIBERO_PROBE = (
    "from vla_bench.benchmarks.libero.files import find_assets, libero_package_dir\n"
    "print('assets:', find_assets(libero_dir=libero_package_dir()))\n"
)


def libero_assets_problem(python: str, env: Mapping[str, str]) -> str | None:
    """None when the LIBERO runtime finds its assets; else how to provide them."""
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        done = subprocess.run([python, "-c", _LIBERO_PROBE], capture_output=True, text=True, timeout=120,
                              env={**env, "PYTHONPATH": path}, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not check LIBERO's assets with {python}: {exc}"
    if done.returncode == 0 and "assets:" in done.stdout:
        return None
    lines = done.stderr.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if "LiberoAssetsMissing" in line or "UserError" in line), None)
    if start is None:
        return "LIBERO's assets could not be checked: " + " | ".join(lines[-2:])
    message = "\n".join(lines[start:])
    return message.split(": ", 1)[1] if ": " in message else message


def calvin_dataset_problem(environ: Mapping[str, str]) -> str | None:
    """None when ``VLA_BENCH_CALVIN_DATASET`` names a CALVIN validation folder (or the built-in test config)."""
    from vla_bench.benchmarks.calvin.adapter import BUILTIN_CONFIG, validation_folder  # noqa: PLC0415
    from vla_bench.benchmarks.calvin.runtime import DATASET_ENV_VAR  # noqa: PLC0415

    value = environ.get(DATASET_ENV_VAR)
    if value == BUILTIN_CONFIG:
        return None
    try:
        validation_folder(value)
    except UserError as exc:
        return str(exc)
    return None


def data_problem(benchmark: str, python: str, env: Mapping[str, str]) -> str | None:
    """What ``benchmark`` still lacks outside pip's reach, or None."""
    if benchmark == "libero":
        return libero_assets_problem(python, env)
    if benchmark == "calvin":
        return calvin_dataset_problem(env)
    return None
