"""Export a trained policy to ONNX with observation normalization inside the graph, plus a JSON manifest.

The graph takes one input, ``state`` ``[batch, obs_dim]`` float32 (raw observations, as the harness gives
them), and returns ``action`` ``[batch, action_dim]`` (or ``[batch, chunk, action_dim]``), so
``--agent DIR/model.onnx`` runs it through onnxruntime without any trainer code.
:class:`TorchPolicy` runs the same module in PyTorch (periodic evaluation, round-trip tests).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.agents.digest import file_sha256
from vla_bench.spec import Observation, TaskSpec

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


class TorchPolicy:
    """A vla-bench policy (``reset``/``act``/``act_batch``) around a module taking raw ``state`` batches."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def reset(self, task: TaskSpec) -> None:
        pass

    def act(self, observation: Observation) -> NDArray[np.float32]:
        action: NDArray[np.float32] = self.act_batch([observation])[0]  # a row of the batch
        return action

    @torch.no_grad()
    def act_batch(self, observations: Sequence[Observation]) -> NDArray[np.float32]:
        states = torch.as_tensor(np.stack([np.asarray(o["state"], dtype=np.float32) for o in observations]))
        output: NDArray[np.float32] = self.module(states).numpy().astype(np.float32)
        return output


def export_onnx(module: nn.Module, obs_dim: int, path: Path) -> Path:
    """Write ``module`` (raw state -> action) as ONNX with a dynamic batch axis."""
    module = module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice; it needs no onnxscript
        torch.onnx.export(module, (torch.zeros(1, obs_dim),), str(partial), input_names=["state"],
                          output_names=["action"], dynamic_axes={"state": {0: "batch"}, "action": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    partial.replace(path)
    return path


def write_manifest(directory: Path, *, algo: str, protocol: str | None, dataset: Mapping[str, Any] | None,
                   steps: int, seed: int, obs_dim: int, action_dim: int, chunk: int,
                   action_low: Sequence[float], action_high: Sequence[float], config: Mapping[str, Any],
                   extra: Mapping[str, Any] | None = None) -> Path:
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
        "model": {"file": MODEL, "sha256": file_sha256(model), "input": "state", "output": "action",
                  "observation_normalization": "inside the graph"},
        "config": dict(config),
        "torch_version": torch.__version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path
