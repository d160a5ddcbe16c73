"""TorchScript policies (``*.pt``), batched, one math thread; never unpickles (``torch.jit.load``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vla_bench.agents.policy import Action, LoadedAgent, StatelessBatchPolicy
from vla_bench.agents.tensor_io import batch_input, unbatch_actions
from vla_bench.spec import Observation
from vla_bench.spec.errors import UserError


class TorchScriptPolicy(StatelessBatchPolicy):
    """Stateless: ``forward(state[B, D]) -> actions[B, A] | [B, T, A]``."""

    def __init__(self, path: Path) -> None:
        import torch  # noqa: PLC0415 - heavy import only for TorchScript agents

        self._torch = torch
        try:
            self._module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # torch raises RuntimeError and others for bad archives
            raise UserError(f"{path} is not a TorchScript archive (save with torch.jit.save): {exc}") from exc
        self._module.eval()

    def act_batch(self, observations: Sequence[Observation]) -> Action:
        state = self._torch.from_numpy(batch_input("state", observations))
        with self._torch.inference_mode():
            output = self._module(state)
        return unbatch_actions(output.detach().cpu().numpy(), len(observations))


def load_torchscript(path: Path, sha256: str) -> LoadedAgent:
    policy = TorchScriptPolicy(path)
    return LoadedAgent(spec=str(path), kind="torchscript", factory=lambda: policy, name=path.stem,
                       sha256=sha256, shared=True)
