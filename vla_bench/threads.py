"""One math thread per process unless the user chose otherwise.

On a 2-core machine torch/OpenBLAS default to 2 threads, which made small-network work 12-75x slower
(PLATFORM.md); parallelism comes from processes instead. Must run before numpy/torch are imported.
"""

from __future__ import annotations

import os

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_math_threads() -> None:
    chosen = os.environ.get("OMP_NUM_THREADS", "1")
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, chosen)
