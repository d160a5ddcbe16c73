"""kitchen/chain5@v1 on the real FrankaKitchen-v1: the pinned chains, subtask detection from the simulator
state, and a short real run through the harness (kitchen steps at ~150-350/s: budgets are cut for the test)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vla_bench.benchmarks.chain import ChainSession, generate_chains
from vla_bench.harness.api import evaluate
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import SUBTASKS_COMPLETED_KEY, Protocol

pytestmark = pytest.mark.filterwarnings("ignore:.*share an object:UserWarning")
PROTOCOL_ID = "kitchen/chain5@v1"
# Gymnasium-Robotics kitchen_env.py OBS_ELEMENT_INDICES / OBS_ELEMENT_GOALS, copied by hand
GOALS = {
    "bottom burner": ([11, 12], [-0.88, -0.01]),
    "top burner": ([15, 16], [-0.92, -0.01]),
    "light switch": ([17, 18], [-0.69, -0.05]),
    "slide cabinet": ([19], [0.37]),
    "hinge cabinet": ([20, 21], [0.0, 1.45]),
    "microwave": ([22], [-0.75]),
    "kettle": ([23, 24, 25, 26, 27, 28, 29], [-0.23, 0.75, 1.62, 0.99, 0.0, 0.0, -0.06]),
}


def short(steps_per_subtask: int) -> Protocol:
    """The published protocol with a smaller per-subtask budget (same chains, same hash of the chains)."""
    data = json.loads(get_protocol(PROTOCOL_ID).canonical_json())
    data["chain"]["steps_per_subtask"] = steps_per_subtask
    data["max_steps"] = 5 * steps_per_subtask
    return Protocol.model_validate(data)


def test_the_protocol_pins_its_chains_of_five_distinct_kitchen_subtasks() -> None:
    protocol = get_protocol(PROTOCOL_ID)
    assert protocol.chain is not None
    assert (protocol.chain.n_chains, protocol.chain.length, protocol.chain.steps_per_subtask) == (500, 5, 150)
    assert set(protocol.chain.instructions) == set(GOALS)
    chains = generate_chains(protocol.chain)
    assert all(len(set(chain.subtasks)) == 5 for chain in chains)
    assert {chain.subtasks[0] for chain in chains} == set(GOALS)  # every subtask opens some chain


def place(session: ChainSession, subtask: str) -> None:
    data = session._backend._env.unwrapped.data  # type: ignore[attr-defined]
    indices, goal = GOALS[subtask]
    data.qpos[indices] = goal


def test_subtasks_are_detected_in_the_simulator_in_chain_order_only() -> None:
    protocol = short(steps_per_subtask=6)
    session = resolve_adapter("kitchen").make_session(protocol, protocol.tasks[0])
    assert isinstance(session, ChainSession)
    zero = np.zeros(9, np.float32)
    try:
        chain = session.chains[0].subtasks
        first = session.reset(episode_spec(protocol, "chains", 0))
        assert first["state"].shape == (59,) and session.task_spec.state_dim == 59
        assert first["instruction"] == protocol.chain.instructions[chain[0]]  # type: ignore[union-attr]
        place(session, chain[1])  # the second subtask done first does not count for the first
        result = session.step(zero)
        assert result.info[SUBTASKS_COMPLETED_KEY] == 0 and not result.terminated
        place(session, chain[0])
        result = session.step(zero)  # first done; the already-done second counts at its first step
        assert result.info[SUBTASKS_COMPLETED_KEY] == 1
        assert result.observation["instruction"] == protocol.chain.instructions[chain[1]]  # type: ignore[union-attr]
        result = session.step(zero)
        assert result.info[SUBTASKS_COMPLETED_KEY] == 2 and not result.terminated
        steps = 0
        while not result.terminated:  # the third subtask runs out of its 6 steps
            result = session.step(zero)
            steps += 1
        assert (steps, result.info[SUBTASKS_COMPLETED_KEY], result.success) == (6, 2, False)
        session.reset(episode_spec(protocol, "chains", 1))  # a new chain starts from the reset kitchen
        for subtask in session.chains[1].subtasks:
            place(session, subtask)
            result = session.step(zero)
        assert (result.info[SUBTASKS_COMPLETED_KEY], result.success, result.terminated) == (5, True, True)
    finally:
        session.close()


def test_a_short_real_run_scores_zero_for_a_policy_that_does_nothing() -> None:
    protocol = short(steps_per_subtask=20)
    result = evaluate("baseline:zero", protocol, limit_episodes=3, envs_per_worker=3)
    assert sorted((r.chain_index, r.subtasks_completed, r.length) for r in result.records) == [
        (0, 0, 20), (1, 0, 20), (2, 0, 20)]
    chain = result.summary["scores"]["tasks"]["chains"]["chain"]
    assert [rate["mean"] for rate in chain["success_rates"]] == [0.0] * 5
    assert chain["average_length"]["mean"] == 0.0
