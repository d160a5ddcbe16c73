"""What the policy server reads off the wire besides observations: task specs of ``episode_start`` messages,
and the error for anything outside the protocol."""

from __future__ import annotations

from dataclasses import fields

from vla_bench.spec import TaskSpec

MAX_MESSAGE = 256 << 20  # bytes of one request: room for many full-HD cameras, not for exhausting memory


class ProtocolViolation(ValueError):
    """A client message that is not part of the protocol."""


def task_spec_from_json(data: object) -> TaskSpec:
    """A :class:`TaskSpec` from its JSON form (``TaskSpec.to_json()``)."""
    if not isinstance(data, dict):
        raise ProtocolViolation(f"a task spec must be a map, not {type(data).__name__}")
    known = {f.name for f in fields(TaskSpec)}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ProtocolViolation(f"unknown task spec fields {unknown}; known: {sorted(known)}")
    values = dict(data)
    for name in ("action_low", "action_high", "cameras"):
        if name in values and values[name] is not None:
            values[name] = tuple(values[name])
    try:
        return TaskSpec(**values)
    except TypeError as exc:
        raise ProtocolViolation(f"bad task spec: {exc}") from None
