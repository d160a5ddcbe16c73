"""The messages between the orchestrator and an env worker, typed, with their one encoder and decoder.

Frames are msgpack (``spec.wire``: numpy arrays inline, never pickle). Every message is a map whose ``"t"``
names its type; :func:`encode` and :func:`decode` are the only places that know the layout, so both sides
of the socket (possibly different interpreters, see ``harness/handshake.py``) read it the same way.

The conversation: the orchestrator's :class:`Hello` (its identity, the protocol, and the agent the worker
should load itself when the policy is placed in the worker), the worker's :class:`Ready`, then
:class:`Batch` requests each answered by one :class:`Reply`, until :class:`Close`. A batch item is one
episode slot: :class:`ResetItem`/:class:`ActionItem`/:class:`EndItem` when the orchestrator runs the policy
(central placement), :class:`RunItem` when the worker runs whole episodes itself (worker placement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec.episode import EpisodeRecord, EpisodeSpec, Observation, TaskSpec
from vla_bench.spec.wire import WireError, packb, unpackb


@dataclass(frozen=True)
class AgentRef:
    """The agent a worker loads itself (worker placement): an ``--agent`` string and its content hash."""

    spec: str
    sha256: str | None
    policy_timeout: float | None
    action_noise: float = 0.0
    collect: bool = False  # send each episode's trajectory back (dataset collection)
    heartbeat: float = 0.5  # seconds a worker may run episodes before it answers (hang detection needs it)


@dataclass(frozen=True)
class Hello:
    identity: dict[str, Any]
    protocol: str  # the protocol's canonical JSON
    sys_path: list[str]
    agent: AgentRef | None = None


@dataclass(frozen=True)
class Ready:
    ok: bool
    identity: dict[str, Any]
    pid: int | None = None
    simulator: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    kind: str | None = None  # "version_mismatch" | "policy" (the agent cannot be loaded in the worker) | None
    env_memory_gb: float | None = None  # what one environment of this benchmark costs, as its adapter declares


@dataclass(frozen=True)
class ResetItem:
    slot: int
    episode: EpisodeSpec
    record: str | None = None  # video path


@dataclass(frozen=True)
class ActionItem:
    slot: int
    action: NDArray[np.float32]


@dataclass(frozen=True)
class EndItem:
    slot: int


@dataclass(frozen=True)
class RunItem:
    slot: int
    episode: EpisodeSpec
    record: str | None = None
    attempt: int = 0


Item = ResetItem | ActionItem | EndItem | RunItem


@dataclass(frozen=True)
class Batch:
    items: list[Item]


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class ResetResult:
    slot: int
    observation: Observation
    task: TaskSpec


@dataclass(frozen=True)
class StepResult:
    slot: int
    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    success: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class Ended:
    slot: int


@dataclass(frozen=True)
class ItemError:
    slot: int
    error: str
    kind: str = "env_error"


@dataclass(frozen=True)
class Finished:
    """An episode the worker ran to its end (worker placement); ``trajectory`` when collecting."""

    slot: int
    record: EpisodeRecord
    trajectory: dict[str, NDArray[np.generic]] | None = None


Result = ResetResult | StepResult | Ended | ItemError | Finished


@dataclass(frozen=True)
class PolicyHung:
    """Sent by a worker's watchdog just before the worker exits: these slots' policy call overran."""

    slots: list[int]
    lengths: list[int]  # steps taken by each of those episodes
    timeout: float
    reset: bool = False  # the call was policy.reset, not act


@dataclass(frozen=True)
class Reply:
    results: list[Result]
    hung: PolicyHung | None = None
    first_step_at: float | None = None  # epoch seconds of the worker's first env step, in the reply after it


@dataclass(frozen=True)
class PolicyCall:
    """To a policy process (central placement of a Python factory): ``op`` is load (``spec``, ``sys_path``),
    make (a new instance: ``handle``), reset (``task``), act or act_batch (``observations``)."""

    op: str
    handle: int = 0
    spec: str | None = None
    sys_path: list[str] = field(default_factory=list)
    task: TaskSpec | None = None
    observations: list[Observation] = field(default_factory=list)


@dataclass(frozen=True)
class PolicyAnswer:
    value: Any = None  # act: an action or chunk; act_batch: one per observation; make: whether it is batched
    error: str | None = None  # what the call raised, described


Message = Hello | Ready | Batch | Close | Reply | PolicyCall | PolicyAnswer


# ------------------------------------------------------------------------------------------------ encoding
def _episode(spec: EpisodeSpec) -> dict[str, object]:
    return {"task": spec.task, "task_index": spec.task_index, "episode_index": spec.episode_index,
            "seed": spec.seed, "init_index": spec.init_index}


def _item(item: Item) -> dict[str, object]:
    if isinstance(item, ActionItem):
        return {"s": item.slot, "a": item.action}
    if isinstance(item, ResetItem):
        return {"s": item.slot, "reset": _episode(item.episode), "record": item.record}
    if isinstance(item, RunItem):
        return {"s": item.slot, "run": _episode(item.episode), "record": item.record, "attempt": item.attempt}
    return {"s": item.slot, "end": True}


def _result(result: Result) -> dict[str, object]:
    if isinstance(result, StepResult):
        return {"s": result.slot, "o": result.observation, "r": result.reward, "te": result.terminated,
                "tr": result.truncated, "su": result.success, "i": result.info}
    if isinstance(result, ResetResult):
        return {"s": result.slot, "o": result.observation, "task": result.task.to_json()}
    if isinstance(result, Finished):
        return {"s": result.slot, "record": result.record.to_json(), "trajectory": result.trajectory}
    if isinstance(result, ItemError):
        return {"s": result.slot, "error": result.error, "kind": result.kind}
    return {"s": result.slot, "ended": True}


def encode(message: Message) -> bytes:
    """The bytes of one frame's payload."""
    data: dict[str, object]
    if isinstance(message, Batch):
        data = {"t": "batch", "items": [_item(i) for i in message.items]}
    elif isinstance(message, Reply):
        hung = message.hung
        data = {"t": "reply", "results": [_result(r) for r in message.results],
                "hung": None if hung is None else [hung.slots, hung.lengths, hung.timeout, hung.reset]}
        if message.first_step_at is not None:
            data["fs"] = message.first_step_at
    elif isinstance(message, Hello):
        agent = message.agent
        data = {"t": "hello", "identity": message.identity, "protocol": message.protocol,
                "sys_path": message.sys_path, "agent": None if agent is None else agent.__dict__}
    elif isinstance(message, Ready):
        data = {"t": "ready", **message.__dict__}
    elif isinstance(message, Close):
        data = {"t": "close"}
    elif isinstance(message, PolicyCall):
        data = {"t": "call", "op": message.op, "handle": message.handle, "spec": message.spec,
                "sys_path": message.sys_path, "task": None if message.task is None else message.task.to_json(),
                "observations": message.observations}
    elif isinstance(message, PolicyAnswer):
        data = {"t": "answer", "value": message.value, "error": message.error}
    else:
        raise WireError(f"not a worker message: {type(message).__name__}")
    return packb(data)


def _decode_item(data: dict[str, Any]) -> Item:
    slot = int(data["s"])
    if "a" in data:
        return ActionItem(slot, np.asarray(data["a"], dtype=np.float32))
    if "reset" in data:
        return ResetItem(slot, EpisodeSpec(**data["reset"]), data.get("record"))
    if "run" in data:
        return RunItem(slot, EpisodeSpec(**data["run"]), data.get("record"), int(data.get("attempt", 0)))
    if data.get("end"):
        return EndItem(slot)
    raise WireError(f"unknown batch item with keys {sorted(data)}")


def _decode_result(data: dict[str, Any]) -> Result:
    slot = int(data["s"])
    if "r" in data:
        return StepResult(slot, data["o"], float(data["r"]), bool(data["te"]), bool(data["tr"]), bool(data["su"]),
                          data.get("i") or {})
    if "task" in data:
        return ResetResult(slot, data["o"], TaskSpec.from_json(data["task"]))
    if "record" in data:
        return Finished(slot, EpisodeRecord.from_json(data["record"]), data.get("trajectory"))
    if "error" in data:
        return ItemError(slot, str(data["error"]), str(data.get("kind", "env_error")))
    if data.get("ended"):
        return Ended(slot)
    raise WireError(f"unknown result with keys {sorted(data)}")


def decode(payload: bytes) -> Message:
    """The message of one frame's payload; :class:`WireError` for anything that is not one."""
    data = unpackb(payload)
    if not isinstance(data, dict) or "t" not in data:
        raise WireError("not a worker message (no type tag)")
    kind = data.pop("t")
    try:
        if kind == "batch":
            return Batch([_decode_item(i) for i in data["items"]])
        if kind == "reply":
            hung = data.get("hung")
            return Reply([_decode_result(r) for r in data["results"]],
                         None if hung is None else PolicyHung([int(s) for s in hung[0]], [int(n) for n in hung[1]],
                                                              float(hung[2]), bool(hung[3])),
                         None if data.get("fs") is None else float(data["fs"]))
        if kind == "hello":
            agent = data.get("agent")
            return Hello(data["identity"], str(data["protocol"]), list(data["sys_path"]),
                         None if agent is None else AgentRef(**agent))
        if kind == "ready":
            return Ready(**data)
        if kind == "close":
            return Close()
        if kind == "call":
            task = data.get("task")
            return PolicyCall(str(data["op"]), int(data["handle"]), data.get("spec"), list(data.get("sys_path") or []),
                              None if task is None else TaskSpec.from_json(task), list(data.get("observations") or []))
        if kind == "answer":
            return PolicyAnswer(data.get("value"), data.get("error"))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError(f"malformed {kind!r} message: {exc}") from exc
    raise WireError(f"unknown worker message type {kind!r}")
