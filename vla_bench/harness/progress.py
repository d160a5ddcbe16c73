"""Run progress: a Rich bar on a terminal, periodic plain log lines anywhere else (CI, nohup, SLURM).

Rich's live display is meant for terminals only; a log file gets one self-contained line every
``interval`` seconds (and at the start and the end): done/total, rate, ETA and the errors so far.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

INTERVAL_ENV = "VLA_BENCH_PROGRESS_INTERVAL"  # seconds between plain lines; default 15
DEFAULT_INTERVAL_S = 15.0


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """``advance(error)`` once per finished episode; use as a context manager."""

    def __init__(self, label: str, total: int, done: int, *, enabled: bool = True, stream: TextIO | None = None,
                 interval: float | None = None) -> None:
        self.label, self.total, self.done = label, total, done
        self.errors = 0
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._interval = interval if interval is not None else float(os.environ.get(INTERVAL_ENV,
                                                                                     DEFAULT_INTERVAL_S))
        self._started = time.perf_counter()
        self._finished_now = 0
        self._last_line = 0.0
        self._bar: Progress | None = None
        if enabled and self._stream.isatty():
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("episodes · {task.fields[rate]} ep/s · {task.fields[errors]} errors"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self._stream), transient=False,
            )

    def __enter__(self) -> RunProgress:
        if self._bar is not None:
            self._bar.__enter__()
            self._bar.add_task(self.label, total=self.total, completed=self.done, rate="–", errors=0)
        elif self._enabled:
            self._line("started")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, tb)
        elif self._enabled:
            self._line("finished" if kind is None else "stopped")

    @property
    def rate(self) -> float:
        return self._finished_now / max(time.perf_counter() - self._started, 1e-9)

    def advance(self, error: bool = False) -> None:
        self.done += 1
        self._finished_now += 1
        self.errors += int(error)
        if self._bar is not None:
            self._bar.update(self._bar.task_ids[0], advance=1, rate=f"{self.rate:.2f}", errors=self.errors)
        elif self._enabled and time.perf_counter() - self._last_line >= self._interval:
            self._line("running")

    def _line(self, state: str) -> None:
        self._last_line = time.perf_counter()
        percent = 100 * self.done / self.total if self.total else 100.0
        rate = self.rate
        eta = _clock((self.total - self.done) / rate) if rate > 0 and self.done < self.total else "–"
        self._stream.write(f"[{time.strftime('%H:%M:%S')}] {self.label}: {state} {self.done}/{self.total} "
                           f"episodes ({percent:.0f}%) · {rate:.2f} ep/s · ETA {eta} · {self.errors} errors\n")
        self._stream.flush()
