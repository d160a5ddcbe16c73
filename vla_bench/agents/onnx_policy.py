"""ONNX policies through onnxruntime (batched, one math thread)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vla_bench.agents.policy import Action, LoadedAgent, StatelessBatchPolicy
from vla_bench.agents.tensor_io import batch_input, unbatch_actions
from vla_bench.spec import Observation
from vla_bench.spec.errors import UserError


class OnnxPolicy(StatelessBatchPolicy):
    """Stateless: one session serves every live episode; the first output is the action (or chunk)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - heavy import only for ONNX agents

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"onnxruntime cannot load {path}: {exc}") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._output = self._session.get_outputs()[0].name
        # exported without a dynamic batch axis (torch.onnx.export's default): the model takes one observation
        # per call, so a batch is fed one by one instead of failing every episode
        self._batch_of_one = all(i.shape and i.shape[0] == 1 for i in self._session.get_inputs())

    def act_batch(self, observations: Sequence[Observation]) -> Action:
        if self._batch_of_one and len(observations) > 1:
            return np.concatenate([self.act_batch([observation]) for observation in observations])
        # one input is the state whatever it is called ("input.1", "onnx::Gemm_0"), unless it names a camera
        single_state = len(self._inputs) == 1 and not self._inputs[0].startswith(("image_", "images/", "images."))
        names = ["state"] if single_state else self._inputs
        feeds = {real: batch_input(alias, observations) for real, alias in zip(self._inputs, names, strict=True)}
        (output,) = self._session.run([self._output], feeds)
        return unbatch_actions(output, len(observations))


def load_onnx(path: Path, sha256: str) -> LoadedAgent:
    policy = OnnxPolicy(path)
    return LoadedAgent(spec=str(path), kind="onnx", factory=lambda: policy, name=path.stem, sha256=sha256,
                       shared=True)
