"""The observation -> LeRobot batch map: features from config.json, cameras by name, alias or position, shapes
checked, task string; no torch needed."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from vla_bench.agents.lerobot_mapping import MappingError, ObservationMap, read_config


def _config(inputs: dict, action: int = 4, **extra: object) -> dict:
    return {"type": "act", "input_features": {k: {"type": t, "shape": list(s)} for k, (t, s) in inputs.items()},
            "output_features": {"action": {"type": "ACTION", "shape": [action]}}, "chunk_size": 10,
            "n_action_steps": 5, **extra}


def _array(batch: dict[str, NDArray[np.float32] | list[str]], key: str) -> NDArray[np.float32]:
    value = batch[key]
    assert isinstance(value, np.ndarray), f"{key} is a {type(value).__name__}"
    return value


def test_state_benchmarks_fill_state_and_environment_state() -> None:
    shape = read_config(_config({"observation.state": ("STATE", (11,)),
                                 "observation.environment_state": ("ENV", (11,))}, action=3))
    assert (shape.policy_type, shape.action_dim, shape.chunk_size, shape.n_action_steps) == ("act", 3, 10, 5)
    state = np.arange(11, dtype=np.float64)
    batch = ObservationMap(shape).batch({"state": state})  # type: ignore[typeddict-item]
    assert sorted(batch) == ["observation.environment_state", "observation.state", "task"]
    state_input = _array(batch, "observation.state")
    assert state_input.shape == (1, 11) and state_input.dtype == np.float32
    assert batch["task"] == [""]
    with pytest.raises(MappingError, match=r"has shape \(11,\); the protocol's state has 4 values"):
        ObservationMap(shape).batch({"state": np.zeros(4)})  # type: ignore[typeddict-item]
    with pytest.raises(MappingError, match="no state"):
        ObservationMap(shape).batch({"images": {}})


def test_libero_cameras_map_to_lerobots_libero_names() -> None:
    shape = read_config(_config({"observation.images.image": ("VISUAL", (3, 8, 8)),
                                 "observation.images.image2": ("VISUAL", (3, 8, 8)),
                                 "observation.state": ("STATE", (8,))}, action=7))
    agentview = np.zeros((8, 8, 3), np.uint8)
    wrist = np.full((8, 8, 3), 255, np.uint8)
    wrist[0, 1, 2] = 51
    observation = {"images": {"eye_in_hand": wrist, "agentview": agentview}, "state": np.zeros(8, np.float32),
                   "instruction": "put the bowl on the plate"}
    mapping = ObservationMap(shape)
    batch = mapping.batch(observation)  # type: ignore[arg-type]
    assert mapping.cameras(["eye_in_hand", "agentview"]) == {"observation.images.image": "agentview",
                                                             "observation.images.image2": "eye_in_hand"}
    image = _array(batch, "observation.images.image")
    assert image.shape == (1, 3, 8, 8) and image.max() == 0
    assert _array(batch, "observation.images.image2")[0, 2, 0, 1] == pytest.approx(0.2)  # CHW, scaled to [0, 1]
    assert batch["task"] == ["put the bowl on the plate"]


def test_metaworld_single_camera_and_positional_fallback() -> None:
    shape = read_config(_config({"observation.image": ("VISUAL", (3, 6, 6)), "observation.state": ("STATE", (4,))}))
    observation = {"images": {"corner4": np.ones((6, 6, 3), np.uint8)}, "state": np.zeros(4, np.float32)}
    batch = ObservationMap(shape).batch(observation)  # type: ignore[arg-type]
    assert _array(batch, "observation.image").shape == (1, 3, 6, 6)
    unnamed = read_config(_config({"observation.images.front": ("VISUAL", (3, 6, 6))}))
    assert ObservationMap(unnamed).cameras(["cam_a", "cam_b"]) == {"observation.images.front": "cam_a"}
    two = read_config(_config({"observation.images.a": ("VISUAL", (3, 6, 6)),
                               "observation.images.b": ("VISUAL", (3, 6, 6))}))
    with pytest.raises(MappingError, match="takes 2 image"):
        ObservationMap(two).cameras(["only"])


def test_image_shapes_must_match_exactly() -> None:
    shape = read_config(_config({"observation.image": ("VISUAL", (3, 224, 224))}))
    with pytest.raises(MappingError, match=r"expects \(3, 224, 224\) \(C, H, W\); camera 'corner4' gives \(3, 8, 8\)"):
        ObservationMap(shape).batch({"images": {"corner4": np.zeros((8, 8, 3), np.uint8)}})
    with pytest.raises(MappingError, match="HWC uint8"):
        ObservationMap(shape).batch({"images": {"corner4": np.zeros((224, 224, 3), np.float32)}})


def test_configs_that_are_not_lerobot_policies_are_refused() -> None:
    with pytest.raises(MappingError, match="not a LeRobot policy config"):
        read_config({"architectures": ["BertModel"]})
    with pytest.raises(MappingError, match="type 'LANGUAGE'"):
        read_config(_config({"observation.language": ("LANGUAGE", (48,))}))
    with pytest.raises(MappingError, match="no 1-d 'action'"):
        read_config({"type": "act", "input_features": {}, "output_features": {}})
