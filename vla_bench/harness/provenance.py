"""Where a result came from: harness version and git revision, packages, renderer, machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pydantic import JsonValue

# Packages whose versions can change a number; recorded when installed.
TRACKED_PACKAGES = (
    "vla-bench", "numpy", "scipy", "gymnasium", "mujoco", "gym-hil", "metaworld", "gymnasium-robotics",
    "robosuite", "torch", "onnxruntime", "stable-baselines3", "minari",
)


def harness_version() -> str:
    try:
        return metadata.version("vla-bench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def git_revision() -> dict[str, JsonValue]:
    """The revision of the vla-bench checkout the code runs from (None when installed from a wheel)."""
    root = Path(__file__).resolve().parents[2]
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                  timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}
    return {"revision": revision or None, "dirty": bool(status.strip())}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> dict[str, JsonValue]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "math_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def collect(simulator: dict[str, JsonValue] | None = None) -> dict[str, JsonValue]:
    return {
        "harness_version": harness_version(),
        "git": git_revision(),
        "packages": {**package_versions()},
        "renderer": os.environ.get("MUJOCO_GL"),
        "machine": machine(),
        "simulator": simulator or {},
        "command": [*sys.argv],
    }
