"""Training precision: names are checked, bf16 autocasts the products and keeps float32 weights and gradients,
and a machine that would emulate bfloat16 is refused with the reason."""

from __future__ import annotations

import pytest
import torch
from training_testing import needs_native_bf16

from vla_bench.training import precision
from vla_bench.training.precision import autocast, parse_precision

CPU = torch.device("cpu")


def test_names_are_checked() -> None:
    assert parse_precision("fp32") == "fp32" and parse_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match=r"'fp16'.*fp32, bf16"):
        parse_precision("fp16")


def test_fp32_changes_nothing() -> None:
    layer = torch.nn.Linear(4, 3)
    with autocast("fp32", CPU):
        assert layer(torch.ones(2, 4)).dtype == torch.float32


@needs_native_bf16
def test_bf16_multiplies_in_bfloat16_and_keeps_float32_weights() -> None:
    layer = torch.nn.Linear(4, 3)
    with autocast("bf16", CPU):
        out = layer(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert layer.weight.dtype == torch.float32 and layer.weight.grad is not None
    assert layer.weight.grad.dtype == torch.float32


def test_bf16_is_refused_where_it_would_be_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device_type: False)
    with pytest.raises(ValueError, match="native bfloat16 on cpu"):
        autocast("bf16", CPU)
