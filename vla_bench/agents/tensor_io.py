"""Observation batches as the arrays a neural network artifact takes, and its output as actions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.policy import Action
from vla_bench.spec import Observation
from vla_bench.spec.errors import UserError


def batch_input(name: str, observations: Sequence[Observation]) -> NDArray[np.generic]:
    """The batched array for a model input called ``state`` or ``image_<camera>`` (or ``images/<camera>``)."""
    if name in ("state", "obs", "observation", "input"):
        if "state" not in observations[0]:
            raise UserError(f"the model's input {name!r} takes state, but this protocol gives no state")
        return np.stack([np.asarray(o["state"], dtype=np.float32) for o in observations])
    for prefix in ("image_", "images/", "images."):
        if name.startswith(prefix):
            camera = name[len(prefix):]
            images = observations[0].get("images", {})
            if camera not in images:
                raise UserError(f"the model's input {name!r} needs camera {camera!r}; cameras: {sorted(images)}")
            return np.stack([o["images"][camera] for o in observations])
    raise UserError(f"cannot feed the model's input {name!r}: name inputs 'state' or 'image_<camera>'")


def unbatch_actions(output: NDArray[np.generic], batch: int) -> Action:
    actions = np.asarray(output, dtype=np.float32)
    if actions.ndim < 2 or actions.shape[0] != batch:
        raise ValueError(f"model output of shape {actions.shape} is not a batch of {batch} actions")
    return actions
