"""Process-wide test settings: headless rendering and one math thread, as the CLI sets them."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")
