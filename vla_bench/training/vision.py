"""Camera observations for the online trainers (PPO through Stable-Baselines3).

The environment (``training.envs.SessionEnv``) gives a ``Dict`` of ``image_<camera>`` (uint8 HxWx3) and
``state``; SB3's ``MultiInputPolicy`` runs its ``CombinedExtractor`` over it: one NatureCNN (Mnih et al. 2015:
8x8/4, 4x4/2, 3x3/1 convolutions, 256 features; it needs images of at least 36x36) per camera, the state
flattened beside them, then the actor and critic MLPs. SB3 divides images by 255 and transposes them to
channel-first itself (``VecTransposeImage``); ``VecNormalize`` normalizes only ``state``.

The exported graph takes the observation as the harness gives it - ``image_<camera>`` uint8 ``[batch, H, W, 3]``
and raw ``state`` ``[batch, dim]``, each an ONNX input of that name (``agents.tensor_io`` feeds inputs by name)
- and does the transpose, the /255 and the state normalization inside, so nothing of SB3 is needed to run it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

if TYPE_CHECKING:
    from gymnasium import spaces
    from stable_baselines3.common.vec_env import VecEnv

IMAGE_PREFIX = "image_"
STATE = "state"
MIN_IMAGE_SIDE = 36  # NatureCNN's three convolutions leave a 1x1 map at 36 pixels


def is_dict_space(space: spaces.Space[object]) -> TypeGuard[spaces.Dict]:
    from gymnasium.spaces import Dict  # noqa: PLC0415

    return isinstance(space, Dict)


def input_names(space: spaces.Dict) -> list[str]:
    """The graph's inputs, in the observation space's key order (Gymnasium sorts a Dict's keys)."""
    return list(space.spaces)


def check_images(space: spaces.Dict) -> None:
    """Refuse images NatureCNN cannot take before SB3 fails deep inside its constructor."""
    from vla_bench.spec.errors import UserError  # noqa: PLC0415

    for name, box in space.spaces.items():
        if name.startswith(IMAGE_PREFIX) and box.shape is not None and min(box.shape[:2]) < MIN_IMAGE_SIDE:
            raise UserError(f"{name} is {box.shape[0]}x{box.shape[1]}: PPO's NatureCNN needs images of at least "
                            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")


def normalize_keys(space: spaces.Dict) -> list[str]:
    """``VecNormalize``'s ``norm_obs_keys``: the state, never an image (SB3 scales those by 1/255)."""
    return [name for name in space.spaces if not name.startswith(IMAGE_PREFIX)]


class DictObservationPolicy(nn.Module):
    """Raw named inputs (harness layout) -> SB3's observation dict -> deterministic action."""

    def __init__(self, names: Sequence[str], normalizers: dict[str, nn.Module], actor: nn.Module) -> None:
        super().__init__()
        self.names = list(names)
        self.normalizers = nn.ModuleDict(normalizers)
        self.actor = actor

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        observation: dict[str, torch.Tensor] = {}
        for name, value in zip(self.names, inputs, strict=True):
            if name.startswith(IMAGE_PREFIX):
                observation[name] = value.permute(0, 3, 1, 2)  # HWC -> CHW, as SB3's VecTransposeImage does
            elif name in self.normalizers:
                observation[name] = self.normalizers[name](value)
            else:
                observation[name] = value
        action: torch.Tensor = self.actor(observation)
        return action


def exported_dict_module(actor: nn.Module, space: spaces.Dict, venv: VecEnv,
                         normalizer: Callable[[NDArray[np.float64], NDArray[np.float64], float, float], nn.Module]
                         ) -> nn.Module:
    """The exported policy for a Dict observation space; ``normalizer(mean, var, eps, clip)`` builds one
    key's ``VecNormalize`` transform."""
    from stable_baselines3.common.vec_env import VecNormalize  # noqa: PLC0415

    normalizers: dict[str, nn.Module] = {}
    if isinstance(venv, VecNormalize) and venv.norm_obs and isinstance(venv.obs_rms, dict):
        for key, rms in venv.obs_rms.items():
            normalizers[key] = normalizer(rms.mean, rms.var, venv.epsilon, venv.clip_obs)
    return DictObservationPolicy(input_names(space), normalizers, actor).eval()


def example_inputs(space: spaces.Dict) -> dict[str, torch.Tensor]:
    """One zero observation per input, shaped and typed as the harness feeds them (batch of one)."""
    examples: dict[str, torch.Tensor] = {}
    for name, box in space.spaces.items():
        assert box.shape is not None  # Boxes (training.envs)
        dtype = torch.uint8 if np.dtype(box.dtype) == np.uint8 else torch.float32
        examples[name] = torch.zeros((1, *box.shape), dtype=dtype)
    return examples
