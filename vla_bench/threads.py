"""One math thread per process unless the user chose otherwise.

On a 2-core machine torch/OpenBLAS default to 2 threads, which made small-network work 12-75x slower
(PLATFORM.md); parallelism comes from processes instead. The environment variables only act before
numpy/torch load their thread pools, so entry points call this first; a torch that is already imported
is told directly.
"""

from __future__ import annotations

import os
import sys

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_math_threads() -> None:
    user_choice = os.environ.get("OMP_NUM_THREADS")
    chosen = user_choice or "1"
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, chosen)
    torch = sys.modules.get("torch")
    if torch is not None and user_choice is None:
        torch.set_num_threads(1)
