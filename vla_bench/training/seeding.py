"""Seeding and one math thread: on CPU with one thread, the same seed gives bit-identical weights (tested in
tests/training)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, threads: int | None = 1) -> None:
    """Seed Python, numpy and torch; one math thread unless the user set ``OMP_NUM_THREADS`` (PLATFORM.md)."""
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # legacy global state, seeded for third-party code only
    torch.manual_seed(seed)
