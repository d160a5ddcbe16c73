"""Task conditioning of state policies: a one-hot of the episode's instruction appended to the state.

A multi-task state policy (MetaWorld MT10 from the scripted experts) must know which task it is doing; the
protocol tells it through ``observation["instruction"]``. Policies trained with ``task_one_hot`` see
``concat(state, one_hot(index of the instruction in a fixed list))``; the list is stored in the exported
manifest, so ``baseline:NAME`` rebuilds the same input without the trainer. The mapping reads only the
observation, so one shared (batched) instance serves episodes of different tasks at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.policy import Action, Policy, is_batched
from vla_bench.spec import Observation, TaskSpec

KIND = "instruction_one_hot"


class InstructionOneHot:
    """Wraps a batched state policy: its input is the state followed by the instruction's one-hot."""

    def __init__(self, inner: Policy, instructions: Sequence[str]) -> None:
        if not is_batched(inner):
            raise TypeError(f"instruction conditioning wraps a batched policy (act_batch); {type(inner).__name__} "
                            "has none")
        self.inner = inner
        self.instructions = list(instructions)
        self._index = {text: i for i, text in enumerate(self.instructions)}

    def condition(self, observation: Observation) -> Observation:
        return {**observation, "state": conditioned_state(observation, self._index)}

    def reset(self, task: TaskSpec) -> None:
        self.inner.reset(task)

    def act(self, observation: Observation) -> Action:
        return self.act_batch([observation])[0]

    def act_batch(self, observations: Sequence[Observation]) -> Action | Sequence[Action]:
        return self.inner.act_batch([self.condition(o) for o in observations])


def conditioned_state(observation: Observation, index: dict[str, int]) -> NDArray[np.float32]:
    instruction = observation.get("instruction")
    if instruction not in index:
        raise ValueError(f"this policy was trained on {len(index)} instructions and does not know "
                         f"{instruction!r}; run it under a protocol with language observations of those tasks")
    one_hot = np.zeros(len(index), dtype=np.float32)
    one_hot[index[instruction]] = 1.0
    return np.concatenate([np.asarray(observation["state"], dtype=np.float32), one_hot])
