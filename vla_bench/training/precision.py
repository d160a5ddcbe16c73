"""Training precision: full float32, or bfloat16 mixed precision (``torch.autocast``).

Under ``bf16`` the forward pass runs its matrix products in bfloat16 while the weights, their gradients, the
optimizer state and the loss stay float32 (mixed precision as in Micikevicius et al., "Mixed Precision Training",
ICLR 2018; bfloat16 keeps float32's exponent range, so no loss scaling is needed). It pays where the hardware
multiplies bfloat16 natively: Intel CPUs with AMX or AVX512-BF16 (oneDNN kernels) and CUDA GPUs from Ampere on.
Elsewhere the products are emulated and slower, so asking for it there is refused with the reason.

float32 stays the default: a reference trainer's numbers should not depend on which machine trained it, and
bf16 changes the trained weights (8 bits of mantissa in the products).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Literal, get_args

import torch

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether this machine's ``device_type`` ("cpu", "cuda") multiplies bfloat16 natively (where autocast to it
    is faster, not emulated)."""
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    # torch's own CPU-feature probes (oneDNN's bf16 check also says yes on plain AVX512, where it emulates)
    return device_type == "cpu" and bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def parse_precision(precision: str) -> Precision:
    """``precision`` as a :data:`Precision`, or a ValueError naming the choices. Only the name is checked: a run
    trained in bf16 still loads, acts and exports (in float32) on a machine without bfloat16."""
    if precision == "fp32":
        return "fp32"
    if precision == "bf16":
        return "bf16"
    raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The context to run a training forward pass in: bfloat16 autocast for ``bf16`` (a ValueError saying why
    where ``device`` would emulate bfloat16), nothing for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if not native_bf16(device.type):
        raise ValueError(f"precision 'bf16' needs native bfloat16 on {device.type} (a CPU with AMX or AVX512-BF16, "
                         "or a CUDA GPU from Ampere on); this machine would emulate it, slower than fp32")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
