"""The Decision Transformer's dropout (vla_bench.training.dt): drop positions drawn gap by gap have the Bernoulli
statistics of nn.Dropout's mask, and the dropout / residual-dropout functions give the values and gradients of
``x * keep / (1 - p)`` and ``x + h * keep / (1 - p)`` for the mask they drew."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from vla_bench.training.dropout import Dropout, dropout, dropped_positions


def test_dropped_positions_have_bernoulli_statistics() -> None:
    n = 2_000_000
    for p in (0.1, 0.5, 0.01):
        positions = dropped_positions(n, p, np.random.default_rng(1)).numpy()
        assert positions.dtype == np.int64 and positions.min() >= 0 and positions.max() < n
        assert np.all(np.diff(positions) > 0)  # sorted, no repeats
        sigma = np.sqrt(n * p * (1 - p))
        assert abs(len(positions) - n * p) < 5 * sigma, p
        # every tenth of the range gets its share (no drift along the sequence)
        counts = np.bincount(positions * 10 // n, minlength=10)
        assert np.all(np.abs(counts - n * p / 10) < 5 * sigma / np.sqrt(10)), p
        gaps = np.diff(np.concatenate([[-1], positions]))  # Geometric(p) on 1, 2, ...
        assert abs(gaps.mean() - 1 / p) < 5 * np.sqrt((1 - p) / p**2 / len(gaps)), p
        excess_kurtosis = 6 + p**2 / (1 - p)  # the sample variance's relative standard error: sqrt((k + 2) / N)
        assert abs(gaps.var() / ((1 - p) / p**2) - 1) < 5 * np.sqrt((excess_kurtosis + 2) / len(gaps)), p
        assert abs(np.mean(gaps == 1) - p) < 5 * np.sqrt(p * (1 - p) / len(gaps)), p  # P(gap = 1) = p


def test_dropped_positions_edge_cases_and_drawing_on() -> None:
    rng = np.random.default_rng(0)
    assert len(dropped_positions(0, 0.1, rng)) == 0 and len(dropped_positions(10, 0.0, rng)) == 0
    assert len(dropped_positions(1, 0.999999, rng)) <= 1

    class Zeros:  # every gap 1: each draw covers only ~p of what is left, so the loop must draw on
        def standard_exponential(self, size: int, dtype: Any = np.float64) -> np.ndarray:
            return np.zeros(size, dtype)

    positions = dropped_positions(1000, 0.1, Zeros())  # type: ignore[arg-type]
    assert positions.tolist() == list(range(1000))


def test_dropout_is_x_times_a_scaled_keep_mask_with_matching_gradients() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 30, 64, requires_grad=True)
    out = dropout(x, 0.25, True)
    keep = (out != 0).float()  # x has no exact zeros
    assert 0.2 < 1 - keep.mean().item() < 0.3
    scale = torch.tensor(1 / 0.75, dtype=torch.float32)
    assert torch.equal(out, x.detach() * keep * scale)
    grad = torch.randn_like(out)
    out.backward(grad)
    assert x.grad is not None and torch.equal(x.grad, grad * keep * scale)
    assert dropout(x, 0.25, False) is x and dropout(x, 0.0, True) is x
    assert torch.equal(dropout(x, 1.0, True), torch.zeros_like(x))


@pytest.mark.parametrize("strided", [False, True])
def test_residual_dropout_adds_the_dropped_out_branch(strided: bool) -> None:
    torch.manual_seed(1)
    stream = torch.randn(8, 60 if strided else 20, 32, requires_grad=True)
    x = stream[:, 1::3] if strided else stream  # strided: the last block's state tokens, a non-contiguous view
    h = torch.randn(8, 20, 32, requires_grad=True)
    drop = Dropout(0.1)
    out = drop.residual(x, h)
    keep = (out != x.detach()).float()  # where h was kept (h has no exact zeros)
    assert 0.05 < 1 - keep.mean().item() < 0.15
    scale = torch.tensor(1 / 0.9, dtype=torch.float32)
    torch.testing.assert_close(out, x.detach() + h.detach() * keep * scale, rtol=0, atol=1e-6)
    assert torch.equal(out[keep == 0], x.detach()[keep == 0])
    grad = torch.randn_like(out)
    out.backward(grad)
    assert stream.grad is not None and h.grad is not None
    expected = torch.zeros_like(stream)
    (expected[:, 1::3] if strided else expected).copy_(grad)
    assert torch.equal(stream.grad, expected) and torch.equal(h.grad, grad * keep * scale)
    drop.eval()
    assert torch.equal(drop.residual(x, h), x + h)


def test_masks_follow_torch_seed() -> None:
    x = torch.ones(4, 50, 16)
    torch.manual_seed(3)
    first, second = dropout(x, 0.1, True), dropout(x, 0.1, True)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.1, True), first)
    assert not torch.equal(first, second)
