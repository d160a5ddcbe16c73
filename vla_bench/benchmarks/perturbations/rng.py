"""The random source of perturbations: a generator per (episode seed, axis, what is drawn).

Seeded from a hash of those three only, so an episode gets the same perturbation in any worker, in any order,
and every level of an axis reuses the same unit draws (a larger level is the same offset, scaled up). The
simulator's own generators are never touched.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray


def perturbation_rng(seed: int, axis: str, purpose: str) -> np.random.Generator:
    digest = hashlib.sha256(f"vla-bench-perturbation|{seed}|{axis}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def scale_draw(rng: np.random.Generator, bounds: tuple[float, float], size: int | None = None) -> NDArray[np.float64]:
    """Factors ~ U(lo, hi), drawn as lo + u (hi - lo) so that levels sharing a generator share ``u``."""
    low, high = bounds
    return np.asarray(low + rng.random(size) * (high - low))
