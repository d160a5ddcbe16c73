"""The worker messages: every type survives its encoder and decoder; anything else is refused."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.spec import EpisodeRecord, EpisodeSpec, TaskSpec
from vla_bench.spec.messages import (
    ActionItem,
    AgentRef,
    Batch,
    Close,
    Ended,
    EndItem,
    Finished,
    Hello,
    ItemError,
    Message,
    PolicyHung,
    Ready,
    Reply,
    ResetItem,
    ResetResult,
    RunItem,
    StepResult,
    decode,
    encode,
)
from vla_bench.spec.wire import WireError, packb

SPEC = EpisodeSpec(task="a", task_index=0, episode_index=2, seed=99, init_index=1)
TASK = TaskSpec(name="a", instruction="go", action_low=(-1.0,), action_high=(1.0,), max_steps=4,
                observation_mode="state", state_dim=3, cameras=("front",), episode_seed=99)


def test_every_message_round_trips() -> None:
    record = EpisodeRecord(task="a", episode_index=2, seed=99, init_index=1, total_return=1.5, length=3,
                           success=None, success_step=None, terminated=True, truncated=False, error=None,
                           error_kind=None, clipped_steps=0, action_smoothness=0.25,
                           timings={"wall_s": 1.0, "env_s": 0.5, "policy_s": 0.25})
    messages: list[Message] = [
        Hello({"worker_protocol": 3}, "{}", ["/x"], AgentRef("baseline:zero", None, 1.5, 0.1, True, 0.25)),
        Hello({"worker_protocol": 3}, "{}", []),
        Ready(True, {"a": 1}, pid=12, simulator={"mujoco": "3"}),
        Ready(False, {}, error="no", kind="policy"),
        Close(),
        Batch([ResetItem(0, SPEC, "v.mp4"), RunItem(1, SPEC, None, 2), EndItem(2)]),
        Reply([ResetResult(0, {"state": np.arange(3, dtype=np.float32)}, TASK), Ended(2), ItemError(3, "boom"),
               StepResult(1, {"state": np.zeros(3, np.float32), "instruction": "go"}, -0.5, True, False, True,
                          {"k": 1}),
               Finished(4, record, {"actions": np.ones((3, 1), np.float32)})],
              PolicyHung([1, 4], [7, 0], 0.5, reset=False)),
        Reply([], first_step_at=1765000000.25),
    ]
    for message in messages:
        back = decode(encode(message))
        assert type(back) is type(message)
        assert encode(back) == encode(message)
    action = decode(encode(Batch([ActionItem(3, np.array([0.5, -1.0], np.float32))])))
    assert isinstance(action, Batch) and isinstance(action.items[0], ActionItem)
    assert action.items[0].action.dtype == np.float32 and action.items[0].action.tolist() == [0.5, -1.0]
    reply = decode(encode(messages[-2]))
    assert isinstance(reply, Reply) and isinstance(reply.results[0], ResetResult) and reply.results[0].task == TASK
    last = decode(encode(messages[-1]))
    assert reply.first_step_at is None and isinstance(last, Reply) and last.first_step_at == 1765000000.25


@pytest.mark.parametrize("payload", [packb({"op": "batch"}), packb({"t": "nope"}), packb([1, 2]),
                                     packb({"t": "batch", "items": [{"s": 1}]}), packb({"t": "ready"}), b"\xc1"])
def test_what_is_not_a_worker_message_is_refused(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode(payload)
