"""LIBERO-Spatial's language axis: every instruction has two shipped paraphrase sets that keep its objects and
places, and the axis changes the instruction only. The axis acts on the session's TaskSpec and observations, so a
stand-in for the LIBERO session (the simulator runs only in the LIBERO runtime) shows it leaves states, images,
rewards and the episode itself untouched."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray

from vla_bench.benchmarks.base import EnvSession, StepResult, make_task_spec
from vla_bench.benchmarks.libero.suites import ACTION_DIM, CAMERAS, STATE_DIM
from vla_bench.benchmarks.perturbations import perturb
from vla_bench.benchmarks.perturbations.language import paraphrase_table
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import EpisodeSpec, Observation, TaskDef, TaskSpec

ROBUST = get_protocol("libero/spatial-robust@v1")
CLEAN = get_protocol("libero/spatial@v1")
# The place each instruction picks the bowl from, by its landmarks (a|b: either word): it tells this bowl from the
# scene's other black bowl, so every paraphrase must name it.
LANDMARKS = {
    "between_the_plate_and_the_ramekin": ("plate", "ramekin", "between"),
    "next_to_the_ramekin": ("ramekin",),
    "from_table_center": ("table", "center|middle"),
    "on_the_cookie_box": ("cookie box",),
    "in_the_top_drawer_of_the_wooden_cabinet": ("top drawer", "wooden cabinet"),
    "on_the_ramekin": ("ramekin",),
    "next_to_the_cookie_box": ("cookie box",),
    "on_the_stove": ("stove",),
    "next_to_the_plate": ("plate",),
    "on_the_wooden_cabinet": ("wooden cabinet",),
}


class StandIn(EnvSession):
    """LIBERO's session shape (proprio state, two cameras, the task's instruction), deterministic in the seed."""

    def __init__(self, task: TaskDef) -> None:
        self._spec = make_task_spec(ROBUST, task, (-1.0,) * ACTION_DIM, (1.0,) * ACTION_DIM,
                                    state_dim=STATE_DIM, cameras=CAMERAS)
        self._rng = np.random.default_rng(0)
        self.episodes: list[EpisodeSpec] = []

    @property
    def task_spec(self) -> TaskSpec:
        return self._spec

    def _observe(self) -> Observation:
        return {"state": self._rng.normal(size=STATE_DIM).astype(np.float32),
                "images": {c: self._rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for c in CAMERAS},
                "instruction": self._spec.instruction}

    def reset(self, episode: EpisodeSpec) -> Observation:
        self.episodes.append(episode)
        self._rng = np.random.default_rng(episode.seed)
        return self._observe()

    def step(self, action: NDArray[np.float32]) -> StepResult:
        return StepResult(self._observe(), float(action.sum()), False, False, False)


def _same_but_instruction(a: Observation, b: Observation) -> bool:
    return (np.array_equal(a["state"], b["state"]) and a.keys() == b.keys()
            and all(np.array_equal(a["images"][c], b["images"][c]) for c in CAMERAS))


def test_every_spatial_instruction_has_two_paraphrase_sets_that_keep_its_objects_and_places() -> None:
    table = paraphrase_table("libero")
    assert table["source"] and set(table["instructions"]) == {t.instruction for t in CLEAN.tasks}
    for task in CLEAN.tasks:
        sets = table["instructions"][task.instruction]
        assert len(sets) == 2 and all(len(s) == len(set(s)) >= 3 and task.instruction not in s for s in sets)
        place = task.name.removeprefix("pick_up_the_black_bowl_").removesuffix("_and_place_it_on_the_plate")
        for text in sets[0] + sets[1]:
            assert text == text.lower() and "black bowl" in text
            assert text.endswith(("on the plate", "onto the plate")) or "goes on the plate:" in text  # the target
            assert all(any(w in text for w in words.split("|")) for words in LANDMARKS[place]), (text, place)


@pytest.mark.parametrize("level", [1, 2])
def test_language_changes_the_instruction_only(level: int) -> None:
    base = CLEAN.tasks[0]
    clean, inner = StandIn(base), StandIn(base)
    session = perturb(ROBUST, ROBUST.task(f"{base.name}.language.{level}"), inner)
    choices = paraphrase_table("libero")["instructions"][base.instruction][level - 1]
    seen = set()
    for index in range(6):
        episode = episode_spec(ROBUST, base.name, index)
        assert episode.seed == episode_spec(CLEAN, base.name, index).seed  # the clean episode's seed
        want, got = clean.reset(episode), session.reset(episode)
        text = got["instruction"]
        assert text in choices and text != base.instruction and _same_but_instruction(got, want)
        assert session.task_spec == replace(inner.task_spec, instruction=text)
        assert inner.episodes[-1] == episode  # the episode reaches the simulator unchanged
        action = np.full(ACTION_DIM, 0.25, np.float32)
        a, b = clean.step(action), session.step(action)
        assert b.observation["instruction"] == text and _same_but_instruction(b.observation, a.observation)
        assert (b.reward, b.terminated, b.truncated, b.success) == (a.reward, a.terminated, a.truncated, a.success)
        seen.add(text)
    assert len(seen) > 1  # drawn per episode, from the episode's seed


def test_every_task_of_the_language_arm_builds() -> None:
    for task in CLEAN.tasks:
        for level in (1, 2):  # the session checks the paraphrases exist when built
            perturb(ROBUST, ROBUST.task(f"{task.name}.language.{level}"), StandIn(task))
