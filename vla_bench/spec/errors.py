"""Errors a user can act on: name the bad input, the expected form, and the fix."""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """A mistake in what the user asked for; the CLI prints it without a traceback."""


class UnknownNameError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def unknown_name_error(kind: str, name: str, known: Iterable[str], *, prefix: str = "") -> UnknownNameError:
    """``unknown KIND 'NAME'. Did you mean ...?``. ``prefix`` is how users write the names (``baseline:``): shown
    on every name, left out of the matching (behind a shared prefix every name looks like a near miss)."""
    candidates = sorted(known)
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(prefix + c) for c in close)}?" if close else ""
    shown = [prefix + c for c in candidates[:20]]
    listing = "" if close else f" Known: {', '.join(shown)}{' …' if len(candidates) > 20 else ''}."
    return UnknownNameError(f"unknown {kind} {prefix + name!r}.{hint}{listing} (`vla-bench list` shows them all)")


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file.py:line)``: what an episode record says of a fault in user or simulator code."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
