"""One generated instruction chain: a leaf module, so chain generators registered by name in ``chain.py``'s
``GENERATORS`` (e.g. ``calvin/sequences.py``) build chains without importing the engine that looks them up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratedChain:
    """One chain: its subtasks in order, and where the benchmark has one, its symbolic start state."""

    subtasks: tuple[str, ...]
    start: dict[str, int | str] | None = None  # CALVIN: variable -> 0/1 or a place (calvin/sequences.py)

    def to_json(self) -> dict[str, object]:
        return {"subtasks": list(self.subtasks), "start": self.start}
