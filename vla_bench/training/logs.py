"""What a training run shows and leaves behind besides its weights: CSV logs (:class:`CsvLog`), the PNG
training curve (:func:`plot_curves`) and a Rich progress bar with steps/s and ETA (:func:`progress_bar`)."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, Task
    from rich.text import Text


class CsvLog:
    """Rows appended to a CSV file; the columns are fixed by the first row. On resume, rows past the
    checkpoint's step are dropped (they were written after the last checkpoint of the killed run)."""

    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if resume_step is not None and int(float(r["step"])) <= resume_step]
            if resume_step is None:
                rows = []
                self.columns = None
            self._rewrite(rows)

    def _rewrite(self, rows: Sequence[Mapping[str, object]]) -> None:
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            if self.columns:
                writer = csv.DictWriter(handle, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: Mapping[str, object]) -> None:
        if self.columns is None:
            self.columns = list(row)
            self._rewrite([])
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: _cell(row.get(k)) for k in self.columns})


def _cell(value: object) -> object:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def plot_curves(train_csv: Path, eval_csv: Path, out: Path, title: str) -> Path | None:
    """A PNG with the evaluation score (if any) and every logged loss against the step (matplotlib, Agg)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    train, evals = read_csv(train_csv), read_csv(eval_csv)
    if not train and not evals:
        return None
    losses = [c for c in (train[0] if train else {}) if c not in ("step", "steps_per_s")]
    panels = (1 if evals else 0) + len(losses)
    figure, axes = plt.subplots(panels, 1, figsize=(7, 2.2 * panels), sharex=True, squeeze=False)
    row = 0
    if evals:
        ax = axes[row][0]
        steps = [float(r["step"]) for r in evals]
        ax.plot(steps, [_float(r.get("score")) for r in evals], marker="o")
        ax.set_ylabel(evals[0].get("metric") or "score")
        row += 1
    for name in losses:
        ax = axes[row][0]
        ax.plot([float(r["step"]) for r in train], [_float(r.get(name)) for r in train], linewidth=1)
        ax.set_ylabel(name, fontsize=8)
        row += 1
    axes[-1][0].set_xlabel("gradient step")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------- progress
def progress_bar(enabled: bool) -> Progress:
    """A Rich progress bar showing steps, steps/s and ETA (a no-op context when disabled)."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class _Speed(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task: Task) -> Text:
            from rich.text import Text  # noqa: PLC0415

            return Text(f"{task.speed:,.0f} steps/s" if task.speed else "- steps/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Speed(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled,
                    transient=False)

