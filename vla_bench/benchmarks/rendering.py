"""Headless software rendering settings shared by the MuJoCo-based adapters."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import mujoco


def ensure_headless_gl() -> str:
    """Select EGL unless the user chose a backend (``MUJOCO_GL=egl|osmesa|glfw``); returns the one in use.

    Must run before mujoco creates a GL context. EGL works with Mesa's llvmpipe without a display.
    """
    backend = os.environ.setdefault("MUJOCO_GL", "egl")
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def disable_shadows_and_reflections(model: mujoco.MjModel) -> None:
    """Shadows and reflections are most of a software renderer's cost (6-20x, measured in PLATFORM.md);
    protocols with pixel observations fix them off so images are cheap and identical across machines."""
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0
