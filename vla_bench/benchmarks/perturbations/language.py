"""Instruction paraphrases, shipped as data next to each benchmark adapter (``<adapter>/paraphrases.json``).

The file maps every instruction of the benchmark's tasks to paraphrase sets: set 1 changes the wording
(synonyms, word order), set 2 the sentence structure. Each set holds several paraphrases; an episode uses the
one drawn with its seed. The file names its source (who wrote the paraphrases and how the meaning was checked).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TypedDict

from vla_bench.benchmarks.perturbations.rng import perturbation_rng


class ParaphraseFile(TypedDict):
    """``<adapter>/paraphrases.json``."""

    source: str  # who wrote the paraphrases and how their meaning was checked
    levels: dict[str, str]  # level ("1", "2") -> what its set changes
    instructions: dict[str, list[list[str]]]  # instruction -> paraphrase sets (level 1 first) -> paraphrases


@functools.cache
def paraphrase_table(adapter: str) -> ParaphraseFile:
    path = resources.files("vla_bench.benchmarks").joinpath(adapter, "paraphrases.json")
    if not path.is_file():
        raise ValueError(f"benchmark {adapter!r} ships no paraphrases (expected {adapter}/paraphrases.json)")
    data: ParaphraseFile = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("source"):
        raise ValueError(f"{adapter}/paraphrases.json must name its source")
    return data


def paraphrases(adapter: str, instruction: str, level: int) -> list[str]:
    table = paraphrase_table(adapter)["instructions"]
    if instruction not in table:
        raise ValueError(f"{adapter}/paraphrases.json has no paraphrases of {instruction!r}")
    sets = table[instruction]
    if not 1 <= level <= len(sets):
        raise ValueError(f"{adapter}/paraphrases.json has paraphrase sets 1..{len(sets)} of {instruction!r}, "
                         f"not {level}")
    return list(sets[level - 1])


def paraphrase(adapter: str, instruction: str, level: int, seed: int, axis: str) -> str:
    choices = paraphrases(adapter, instruction, level)
    return choices[int(perturbation_rng(seed, axis, "paraphrase").integers(len(choices)))]
