"""A submission's training log: the CSV a trainer wrote (``step,loss,...``), checked as numbers, never drawn
from an image the submitter made.

The body carries it as ``"training_log": {"csv": "<the file's text>"}`` (the client sends the file as it is on
disk); the server parses it here into columns and rows, refusing anything but a plain numeric table of bounded
size: a header of distinct lower-case names starting with ``step``, the same number of cells on every row,
each cell empty (not logged at that step) or a plain decimal number that is finite and within
``MAX_ABS_VALUE``, steps that never go back. Each refusal names the JSON path, the line and the column.
The log is what the submitter says training looked like; nothing here ties it to the evaluated model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypedDict

from pydantic import JsonValue

from vla_bench.server.bundle_limits import MAX_ABS_VALUE, MAX_TRAINING_LOG_CHARS, Refusal

FIELD = "$.training_log"
MAX_ROWS = 5000  # a log line every 0.1% of a run's steps, with room: the bundled PPO logs have 1,000
MAX_COLUMNS = 16  # step and 15 measures (the bundled GRPO log has 10 columns)
COLUMN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# a plain decimal: no "nan"/"inf", no hex, no underscores or spaces (all of which float() would take)
NUMBER = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,4})?$")
INTEGER = re.compile(r"^-?[0-9]{1,18}$")

Cell = int | float | None


class TrainingLogJson(TypedDict):
    """How a log is stored: its columns and rows as JSON lists."""

    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class TrainingLog:
    columns: tuple[str, ...]  # the first is "step"
    rows: tuple[tuple[Cell, ...], ...]

    def to_json(self) -> TrainingLogJson:
        return {"columns": list(self.columns), "rows": [list(row) for row in self.rows]}

    @classmethod
    def from_json(cls, stored: TrainingLogJson) -> TrainingLog:
        return cls(tuple(stored["columns"]), tuple(tuple(row) for row in stored["rows"]))

    def to_csv(self) -> str:
        """The log as CSV again (numbers in their shortest exact form): the bundle download's training log."""
        lines = [",".join(self.columns)]
        lines += [",".join("" if cell is None else repr(cell) for cell in row) for row in self.rows]
        return "\n".join(lines) + "\n"

    def series(self, column: str) -> list[tuple[float, float]]:
        """(step, value) of one column where it was logged."""
        index = self.columns.index(column)
        return [(float(row[0]), float(cell)) for row in self.rows
                if (cell := row[index]) is not None and row[0] is not None]


def parse_training_log(value: JsonValue) -> TrainingLog:
    """The body's ``training_log`` object as a :class:`TrainingLog`; :class:`Refusal` naming what is wrong."""
    if not isinstance(value, dict) or set(value) != {"csv"} or not isinstance(value["csv"], str):
        raise Refusal('training_log must be an object {"csv": "<the training CSV as text>"} and nothing else', FIELD)
    text = value["csv"]
    where = f"{FIELD}.csv"
    if len(text) > MAX_TRAINING_LOG_CHARS:
        raise Refusal(f"the training log is {len(text)} characters; at most {MAX_TRAINING_LOG_CHARS} are accepted",
                      where)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise Refusal("the training log needs a header line and at least one row", where)
    if len(lines) - 1 > MAX_ROWS:
        raise Refusal(f"the training log has {len(lines) - 1} rows; at most {MAX_ROWS} are accepted "
                      "(log less often)", where)
    columns = _header(lines[0], where)
    rows = tuple(_row(line, number, columns, where) for number, line in enumerate(lines[1:], start=2))
    previous = -math.inf
    for number, row in enumerate(rows, start=2):
        step = row[0]
        if step is None or step < 0 or step < previous:
            raise Refusal(f"line {number}: step must be a number >= 0 that never decreases, not "
                          f"{'empty' if step is None else repr(step)}", where)
        previous = step
    return TrainingLog(columns, rows)


def _header(line: str, where: str) -> tuple[str, ...]:
    columns = tuple(line.split(","))
    if len(columns) > MAX_COLUMNS:
        raise Refusal(f"the training log has {len(columns)} columns; at most {MAX_COLUMNS} are accepted", where)
    bad = next((c for c in columns if not COLUMN.match(c)), None)
    if bad is not None:
        raise Refusal(f"line 1: column name {bad[:40]!r} is not a lower-case name (a-z, 0-9, _; at most 40 "
                      "characters)", where)
    if len(set(columns)) != len(columns):
        raise Refusal("line 1: the training log repeats a column name", where)
    if columns[0] != "step" or len(columns) < 2:
        raise Refusal(f"line 1: the first column must be 'step' and at least one measure must follow, not "
                      f"{','.join(columns)[:80]!r}", where)
    return columns


def _row(line: str, number: int, columns: tuple[str, ...], where: str) -> tuple[Cell, ...]:
    cells = line.split(",")
    if len(cells) != len(columns):
        raise Refusal(f"line {number} has {len(cells)} cells, but the header has {len(columns)} columns", where)
    return tuple(_cell(cell, number, column, where) for cell, column in zip(cells, columns, strict=True))


def _cell(text: str, number: int, column: str, where: str) -> Cell:
    if text == "":
        return None
    if not NUMBER.match(text):
        raise Refusal(f"line {number}, column {column}: {text[:40]!r} is not a plain decimal number (NaN and "
                      "infinities are refused; leave the cell empty where nothing was logged)", where)
    value: int | float = int(text) if INTEGER.match(text) else float(text)
    if not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
        raise Refusal(f"line {number}, column {column}: {text[:40]} is out of range (at most "
                      f"±{MAX_ABS_VALUE:g})", where)
    return value
