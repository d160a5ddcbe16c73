"""Dropout for the Decision Transformer's training step, drawn by position: only the ~``p n`` dropped elements
are drawn and zeroed by index, so no mask tensor is made, filled or read, forward or backward (the same
Bernoulli(1 - p) law as ``nn.Dropout``; see :func:`dropped_positions`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn


def dropped_positions(n: int, p: float, rng: np.random.Generator) -> torch.Tensor:
    """Which of ``n`` elements dropout with probability ``p`` zeroes: the sorted positions of the ones among ``n``
    independent Bernoulli(``p``) draws, drawn gap by gap - the gaps between consecutive ones are i.i.d.
    Geometric(``p``) on 1, 2, ..., drawn as ``floor(E / -log(1 - p)) + 1`` from standard exponentials ``E``
    (P(gap > k) = P(E >= -k log(1 - p)) = (1 - p)^k, to float64's precision), so only ~``p n`` numbers are
    drawn, not ``n`` uniforms (``uniform >= p``, this trainer's mask before: the same law, to float32's 2^-24)."""
    if n <= 0 or p <= 0.0:
        return torch.zeros(0, dtype=torch.int64)
    scale = -1.0 / math.log1p(-p)
    parts: list[NDArray[np.int64]] = []
    last = -1  # the last position drawn (-1: before the start)
    while last < n - 1:
        rest = n - 1 - last
        gaps = rng.standard_exponential(int(rest * p + 6.0 * math.sqrt(rest * p) + 16))
        gaps *= scale
        positions = gaps.astype(np.int64)  # floor (gaps >= 0)
        positions += 1
        np.cumsum(positions, out=positions)
        positions += last
        parts.append(positions)
        last = int(positions[-1])  # rarely short of n (6 standard deviations): draw on
    positions = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return torch.from_numpy(positions[: int(np.searchsorted(positions, n))])


_GENERATORS = threading.local()
_PCG_STREAM = 0xDA3E39CB94B95BDB  # PCG64's increment (any odd number): one fixed stream, the state drawn


def _drop_positions(x: torch.Tensor, p: float) -> torch.Tensor:
    """:func:`dropped_positions` for ``x`` (row-major) from numpy's PCG64 with a 128-bit state drawn from torch's
    generator, so ``torch.manual_seed`` and the torch RNG state a checkpoint keeps determine the masks (one
    generator per thread, re-seeded at each call: seeding a new one through ``SeedSequence`` took longer)."""
    generator: np.random.Generator | None = getattr(_GENERATORS, "generator", None)
    if generator is None:
        generator = _GENERATORS.generator = np.random.Generator(np.random.PCG64(0))
    words = torch.randint(0, 2**32, (4,), dtype=torch.int64).tolist()
    generator.bit_generator.state = {
        "bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
        "state": {"state": words[0] << 96 | words[1] << 64 | words[2] << 32 | words[3], "inc": _PCG_STREAM}}
    return dropped_positions(x.numel(), p, generator)


class _Dropout(torch.autograd.Function):
    """``x * keep / (1 - p)`` with the dropped elements given by position: no mask tensor is made, filled or
    read, forward or backward. With :func:`dropped_positions` ~2.7% more gradient steps/s at the bench's sizes
    than masks from ``torch.rand`` (in-process A/B, one thread; ``bernoulli_`` had been ~1.5x slower still)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, positions: torch.Tensor, scale: float) -> torch.Tensor:
        out = (x * scale).contiguous()
        out.view(-1).index_fill_(0, positions, 0.0)
        ctx.save_for_backward(positions)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (positions,) = ctx.saved_tensors
        dx = (grad * ctx.scale).contiguous()
        dx.view(-1).index_fill_(0, positions, 0.0)
        return dx, None, None


class _DropoutResidual(torch.autograd.Function):
    """``x + dropout(h)``: ``x + h / (1 - p)``, with ``x`` alone at the dropped positions."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, h: torch.Tensor, positions: torch.Tensor, scale: float) -> torch.Tensor:
        out = torch.add(x, h, alpha=scale).contiguous()
        out.view(-1).index_copy_(0, positions, x.reshape(-1).index_select(0, positions))
        ctx.save_for_backward(positions)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        (positions,) = ctx.saved_tensors
        dh = (grad * ctx.scale).contiguous()
        dh.view(-1).index_fill_(0, positions, 0.0)
        return grad, dh, None, None


_apply_dropout = cast(Callable[..., torch.Tensor], _Dropout.apply)
_apply_dropout_residual = cast(Callable[..., torch.Tensor], _DropoutResidual.apply)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``nn.functional.dropout``: each element independently zeroed with probability ``p``, the others scaled by
    ``1 / (1 - p)`` (the same Bernoulli(1 - p) mask as its ``bernoulli_``), the zeros drawn by
    :func:`dropped_positions`."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    return _apply_dropout(x, _drop_positions(x, p), 1.0 / (1.0 - p))


class Dropout(nn.Module):
    """:func:`dropout` as a module (no state: checkpoints are those written with ``nn.Dropout``);
    ``residual(x, h)`` is ``x + dropout(h)`` in one pass."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def residual(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x + h
        if self.p >= 1.0:
            return x + h * 0.0
        return _apply_dropout_residual(x, h, _drop_positions(h, self.p), 1.0 / (1.0 - self.p))
