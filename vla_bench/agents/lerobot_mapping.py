"""A standard observation as the batch a LeRobot policy's pre-processor takes (numpy only: testable anywhere).

A LeRobot checkpoint's ``config.json`` lists its ``input_features`` (key, type, shape). The map fills them:

* ``STATE`` (``observation.state``) and ``ENV`` (``observation.environment_state``) from the observation's
  ``state``: the vector the protocol defines (LIBERO: eef position, axis-angle, gripper, as LeRobot's own LIBERO
  processor builds it; MetaWorld: hand position and gripper; MuJoCo/D4RL: the Gymnasium observation). Its size
  must equal the feature's.
* ``VISUAL`` (``observation.images.<name>``, ``observation.image``): HWC uint8 -> CHW float32 in [0, 1], as
  ``lerobot.envs.utils.preprocess_observation`` does. The camera: the one of the same name; else an alias
  (LeRobot's LIBERO names ``image``/``image2`` are our ``agentview``/``eye_in_hand``, already rotated by 180
  degrees as LeRobot's LIBERO processor rotates them); else the camera at the feature's position among the
  policy's image features. Its shape must equal the feature's (no silent resizing).
* ``task``: the instruction (``""`` without language), a list of one string as ``lerobot-eval`` passes it.

Every array gets a batch dimension of one. Mismatches are errors that name the feature, the expected and the
observed shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec import Observation

FeatureKind = Literal["STATE", "ENV", "VISUAL"]  # LeRobot FeatureType names vla-bench fills
STATE: Final = "STATE"
ENV: Final = "ENV"
VISUAL: Final = "VISUAL"
ALIASES: dict[str, tuple[str, ...]] = {  # LeRobot camera name -> our camera names, in order of preference
    "image": ("agentview", "corner4", "corner2", "top"),
    "image2": ("eye_in_hand", "wrist", "robot0_eye_in_hand"),
    "wrist_image": ("eye_in_hand", "wrist"),
    "top": ("agentview", "corner2"),
}


class MappingError(ValueError):
    """An observation that does not fit the policy's input features."""


@dataclass(frozen=True)
class Feature:
    key: str
    kind: FeatureKind  # other feature types are refused when the map is built
    shape: tuple[int, ...]

    @property
    def camera(self) -> str:
        """The camera name in the key (``observation.images.top`` -> ``top``; ``observation.image`` -> ``image``)."""
        return self.key.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class PolicyShape:
    """What the harness needs to know of a LeRobot policy, from its ``config.json``."""

    policy_type: str
    inputs: tuple[Feature, ...]
    action_dim: int
    chunk_size: int | None
    n_action_steps: int | None


def is_feature_kind(kind: object) -> TypeGuard[FeatureKind]:
    return kind in (STATE, ENV, VISUAL)


def read_config(config: Mapping[str, object]) -> PolicyShape:
    """The input features and action size of a LeRobot policy config (``config.json``), checked."""
    policy_type = config.get("type")
    features = config.get("input_features")
    outputs = config.get("output_features")
    if not isinstance(policy_type, str) or not isinstance(features, dict) or not isinstance(outputs, dict):
        raise MappingError("not a LeRobot policy config: config.json needs 'type', 'input_features' and "
                           "'output_features' (a PreTrainedPolicy checkpoint saved by LeRobot >= 0.4)")
    inputs = []
    for key, value in features.items():
        kind, shape = value.get("type"), tuple(int(n) for n in value.get("shape", ()))
        if not is_feature_kind(kind):
            raise MappingError(f"input feature {key!r} is of type {kind!r}; vla-bench fills STATE, ENV and VISUAL "
                               "features")
        inputs.append(Feature(str(key), kind, shape))
    action = outputs.get("action")
    if not isinstance(action, dict) or len(action.get("shape", ())) != 1:
        raise MappingError(f"the policy's output features {sorted(outputs)} have no 1-d 'action'")
    chunk, steps = config.get("chunk_size"), config.get("n_action_steps")
    return PolicyShape(policy_type, tuple(inputs), int(action["shape"][0]), _count(chunk) if chunk else None,
                       _count(steps) if steps else None)


def _count(value: object) -> int:
    """A JSON number (or numeric string) of the config as an int."""
    if isinstance(value, str | int | float):
        return int(value)
    raise MappingError(f"expected a number in the policy config, not {value!r}")


class ObservationMap:
    """Fills a policy's input features from standard observations (cameras are matched on first use)."""

    def __init__(self, shape: PolicyShape) -> None:
        self.shape = shape
        self.visual = [f for f in shape.inputs if f.kind == VISUAL]
        self._cameras: dict[str, str] | None = None  # feature key -> our camera name

    def cameras(self, available: list[str]) -> dict[str, str]:
        """Which of ``available`` feeds each image feature."""
        chosen: dict[str, str] = {}
        for position, feature in enumerate(self.visual):
            candidates = (feature.camera, *ALIASES.get(feature.camera, ()))
            name = next((c for c in candidates if c in available), None)
            if name is None and position < len(available):
                name = available[position]
            if name is None:
                raise MappingError(f"the policy takes {len(self.visual)} image(s) "
                                   f"{[f.key for f in self.visual]}, the observation has cameras {available}: "
                                   "use a pixels protocol with enough cameras")
            chosen[feature.key] = name
        return chosen

    def batch(self, observation: Observation) -> dict[str, NDArray[np.float32] | list[str]]:
        """The policy's input batch of one: each feature ``[1, ...]`` float32, and ``task`` the instruction."""
        batch: dict[str, NDArray[np.float32] | list[str]] = {}
        for feature in self.shape.inputs:
            if feature.kind == VISUAL:
                continue
            if "state" not in observation:
                raise MappingError(f"the policy needs {feature.key!r} ({feature.shape}) but the observation has "
                                   f"no state (it has {sorted(observation)}): use a protocol that observes it")
            state = np.asarray(observation["state"], dtype=np.float32).reshape(-1)
            if (state.size,) != feature.shape:
                raise MappingError(f"the policy's {feature.key!r} has shape {feature.shape}; the protocol's state "
                                   f"has {state.size} values")
            batch[feature.key] = state[None]
        if self.visual:
            images: dict[str, object] = dict(observation.get("images") or {})
            if self._cameras is None:
                self._cameras = self.cameras(list(images))
            for feature in self.visual:
                batch[feature.key] = _image(feature, images.get(self._cameras[feature.key]), self._cameras[feature.key])
        batch["task"] = [str(observation.get("instruction") or "")]
        return batch


def _image(feature: Feature, image: object, camera: str) -> NDArray[np.float32]:
    if image is None:
        raise MappingError(f"camera {camera!r} (for {feature.key!r}) is missing from this observation")
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3:
        raise MappingError(f"camera {camera!r} gives {array.dtype} {array.shape}; expected an HWC uint8 image")
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)
    if chw.shape != feature.shape:
        raise MappingError(f"the policy's {feature.key!r} expects {feature.shape} (C, H, W); camera {camera!r} "
                           f"gives {chw.shape}: evaluate it on a protocol with that image size")
    return chw[None]
