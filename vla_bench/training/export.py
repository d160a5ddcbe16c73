"""Export a trained policy to ONNX with observation normalization inside the graph, plus a JSON manifest.

The graph takes one input, ``state`` ``[batch, obs_dim]`` float32 (raw observations, as the harness gives
them), and returns ``action`` ``[batch, action_dim]`` (or ``[batch, chunk, action_dim]``), so
``--agent DIR/model.onnx`` runs it through onnxruntime without any trainer code. A policy that sees cameras
takes more inputs, named as the harness feeds them (``agents.tensor_io``): ``image_<camera>`` uint8
``[batch, H, W, 3]`` and ``state``; :func:`export_onnx_inputs` writes those.
:class:`TorchPolicy` runs the same module in PyTorch (periodic evaluation, round-trip tests).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.agents.digest import file_sha256
from vla_bench.agents.policy import StatelessBatchPolicy
from vla_bench.agents.tensor_io import batch_input
from vla_bench.spec import Observation

MANIFEST = "manifest.json"
MODEL = "model.onnx"
MANIFEST_FORMAT = "vla-bench-exported-policy/1"
OPSET = 17


class ExportedPolicy(nn.Module):
    """raw observation -> normalizer -> deterministic policy."""

    def __init__(self, normalizer: nn.Module, policy: nn.Module) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.policy = policy

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        action: torch.Tensor = self.policy(self.normalizer(state))
        return action


class TorchPolicy(StatelessBatchPolicy):
    """A vla-bench policy (``reset``/``act``/``act_batch``) around a module taking raw ``state`` batches (or
    the batches of ``inputs``, in that order, fed as the ONNX graph's inputs are)."""

    def __init__(self, module: nn.Module, inputs: Sequence[str] = ("state",)) -> None:
        self.module = module
        self.inputs = tuple(inputs)

    @torch.no_grad()
    def act_batch(self, observations: Sequence[Observation]) -> NDArray[np.float32]:
        batches = [torch.as_tensor(batch_input(name, observations)) for name in self.inputs]
        output: NDArray[np.float32] = self.module(*batches).numpy().astype(np.float32)
        return output


def export_onnx(module: nn.Module, obs_dim: int, path: Path) -> Path:
    """Write ``module`` (raw state -> action) as ONNX with a dynamic batch axis."""
    return export_onnx_inputs(module, {"state": torch.zeros(1, obs_dim)}, path)


def export_onnx_inputs(module: nn.Module, examples: Mapping[str, torch.Tensor], path: Path) -> Path:
    """Write ``module`` (its positional inputs named and shaped as ``examples``, in order -> action) as ONNX
    with a dynamic batch axis."""
    module = module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    names = list(examples)
    axes = {name: {0: "batch"} for name in [*names, "action"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice; it needs no onnxscript
        torch.onnx.export(module, tuple(examples.values()), str(partial), input_names=names,
                          output_names=["action"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    partial.replace(path)
    return path


def write_manifest(directory: Path, *, algo: str, protocol: str | None, dataset: Mapping[str, object] | None,
                   steps: int, seed: int, obs_dim: int, action_dim: int, chunk: int,
                   action_low: Sequence[float], action_high: Sequence[float], config: Mapping[str, object],
                   extra: Mapping[str, object] | None = None, inputs: Sequence[str] = ("state",)) -> Path:
    model = directory / MODEL
    manifest = {
        "format": MANIFEST_FORMAT,
        "algo": algo,
        "protocol": protocol,
        "dataset": dict(dataset) if dataset else None,
        "steps": steps,
        "seed": seed,
        "obs_dim": obs_dim,
        "action_dim": action_dim,
        "chunk": chunk,
        "action_low": list(action_low),
        "action_high": list(action_high),
        "model": {"file": MODEL, "sha256": file_sha256(model),
                  "input": inputs[0] if len(inputs) == 1 else list(inputs), "output": "action",
                  "observation_normalization": "inside the graph"},
        "config": dict(config),
        "torch_version": torch.__version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path
