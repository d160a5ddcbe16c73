"""A LeRobot ``PreTrainedPolicy`` with its pre/post processors as a vla-bench policy (runs in the lerobot runtime).

Each step does what ``lerobot-eval``'s rollout does: the observation as LeRobot's batch
(:mod:`~vla_bench.agents.lerobot_mapping`), the policy's pre-processor, ``select_action`` under
``torch.inference_mode``, the post-processor, one action back. ``select_action`` keeps LeRobot's own action
queue, so chunks are executed as the policy's config says (``n_action_steps`` of each ``chunk_size`` chunk,
or temporal ensembling); ``reset`` empties it at every episode start.

Loading reads only data: ``config.json``, ``model.safetensors`` and the processors' JSON and safetensors
files. A processor step must be named by LeRobot's registry (``registry_name``); a step naming a Python
class to import is refused, so a checkpoint cannot make the runtime import arbitrary modules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.lerobot_mapping import MappingError, ObservationMap, PolicyShape, read_config
from vla_bench.agents.policy import LoadedAgent
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError

PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")


def check_checkpoint(path: Path) -> dict[str, object]:
    """``config.json`` of a LeRobot checkpoint folder, after checking it holds what loading reads."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UserError(f"{path} has no config.json: not a LeRobot PreTrainedPolicy folder (saved with "
                        "policy.save_pretrained)")
    if not (path / "model.safetensors").is_file():
        raise UserError(f"{path} has no model.safetensors (only safetensors weights are loaded)")
    for name in PROCESSOR_FILES:
        if not (path / name).is_file():
            raise UserError(f"{path} has no {name}: save the policy's processors beside it "
                            "(preprocessor.save_pretrained(path), postprocessor.save_pretrained(path))")
        steps = json.loads((path / name).read_text(encoding="utf-8")).get("steps", [])
        for step in steps:
            if not isinstance(step, dict) or not isinstance(step.get("registry_name"), str):
                raise UserError(f"{path / name}: a step without a registry_name ({step!r}); steps that name a "
                                "class to import are refused")
    config: dict[str, object] = json.loads(config_file.read_text(encoding="utf-8"))
    return config


def weights_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", *PROCESSOR_FILES):
        with (path / name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class LeRobotPolicy:
    """One episode slot: its own copy of the model (LeRobot policies keep an action queue)."""

    def __init__(self, model: Any, preprocessor: Any, postprocessor: Any, shape: PolicyShape) -> None:
        self.model, self.pre, self.post = model, preprocessor, postprocessor
        self.mapping = ObservationMap(shape)

    def reset(self, task: TaskSpec) -> None:
        self.model.reset()

    def act(self, observation: Observation) -> NDArray[np.float32]:
        import torch  # noqa: PLC0415 - the runtime's

        try:
            batch = self.mapping.batch(observation)
        except MappingError as exc:
            raise ValueError(str(exc)) from None
        inputs = {key: (torch.from_numpy(value) if isinstance(value, np.ndarray) else value)
                  for key, value in batch.items()}
        with torch.inference_mode():
            action = self.post(self.model.select_action(self.pre(inputs)))
        result: NDArray[np.float32] = action.to("cpu").numpy().astype(np.float32)
        first: NDArray[np.float32] = result[0]  # the batch of one
        return first


def load_lerobot_policy(path: Path) -> LoadedAgent:
    """The checkpoint at ``path`` as an agent whose factory hands each slot its own copy of the model."""
    config = check_checkpoint(path)
    try:
        shape = read_config(config)
    except MappingError as exc:
        raise UserError(f"{path}: {exc}") from None
    from lerobot.configs.policies import PreTrainedConfig  # noqa: PLC0415 - the runtime's
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors  # noqa: PLC0415

    policy_config = PreTrainedConfig.from_pretrained(str(path))
    policy_config.device = "cpu" if not _cuda() else policy_config.device
    model = get_policy_class(policy_config.type).from_pretrained(str(path), config=policy_config)
    model.eval()
    overrides = {"device_processor": {"device": str(policy_config.device)}}
    pre, post = make_pre_post_processors(policy_config, pretrained_path=str(path),
                                         preprocessor_overrides=overrides)
    spares = [model]

    def factory() -> LeRobotPolicy:
        return LeRobotPolicy(spares.pop() if spares else copy.deepcopy(model), pre, post, shape)

    details = {"policy_type": shape.policy_type, "chunk_size": shape.chunk_size,
               "n_action_steps": shape.n_action_steps, "action_dim": shape.action_dim,
               "input_features": {f.key: [f.kind, list(f.shape)] for f in shape.inputs},
               "device": str(policy_config.device)}
    return LoadedAgent(spec=str(path), kind="lerobot", factory=factory, name=f"lerobot:{path.name}",
                       sha256=weights_sha256(path), details=details)


def _cuda() -> bool:
    import torch  # noqa: PLC0415

    return bool(torch.cuda.is_available())
