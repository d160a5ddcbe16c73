"""Knowing why a run stopped early, so that its summary says ``aborted`` and why.

An exception, Ctrl-C, or SIGTERM/SIGHUP (turned into an exception while the run is on, so that the bundle
is finalised on the way out). A ``kill -9`` or an ``os._exit`` of this process cannot be caught: the summary
then stays ``running``, which ``--resume`` finishes like any other interrupted run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from vla_bench.spec.errors import describe_exception


class Terminated(SystemExit):
    """The process was asked to stop by a signal."""


class AbortWatch:
    """``reason`` is set when the guarded block ends with an exception."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @contextmanager
    def guard(self) -> Iterator[None]:
        previous: dict[signal.Signals, object] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGHUP):
                previous[signum] = signal.signal(signum, _raise_terminated)
        try:
            yield
        except KeyboardInterrupt:
            self.reason = "interrupted (Ctrl-C)"
            raise
        except BaseException as exc:
            self.reason = str(exc) if isinstance(exc, Terminated) else describe_exception(exc)
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")
