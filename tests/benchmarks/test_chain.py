"""The chain engine: deterministic, pinned chain generation; one chain per episode with per-subtask budgets,
changing instructions and first-failure termination; progress reaching the episode record through the
harness; CALVIN-style metrics in the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from chain_fakes import COMPLETES, DELAY, INSTRUCTIONS, FakeChainBackend, fake_chain_protocol

from vla_bench.benchmarks.chain import ChainSession, chains_digest, generate_chains, seeded_distinct_chains
from vla_bench.harness.api import evaluate
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import SUBTASKS_COMPLETED_KEY, Protocol
from vla_bench.spec.schemas import schema_errors


def test_seeded_chains_are_deterministic_distinct_and_independent_of_their_number() -> None:
    spec = fake_chain_protocol(n_chains=40).chain
    assert spec is not None
    chains = seeded_distinct_chains(spec)
    assert chains == seeded_distinct_chains(spec)
    assert all(len(set(c.subtasks)) == len(c.subtasks) == 3 and set(c.subtasks) <= set(INSTRUCTIONS) for c in chains)
    assert len(set(chains)) > 10  # not one chain repeated
    fewer = fake_chain_protocol(n_chains=5).chain
    assert fewer is not None
    assert seeded_distinct_chains(fewer) == chains[:5]  # a limited run sees the protocol's first chains


def test_a_change_in_chain_generation_is_refused_by_the_pinned_hash() -> None:
    spec = fake_chain_protocol().chain
    assert spec is not None
    assert chains_digest(generate_chains(spec)) == spec.chains_sha256
    moved = spec.model_copy(update={"generator_seed": 8})
    with pytest.raises(ValueError, match="chain generation changed, which needs a new protocol version"):
        generate_chains(moved)


def run_chain(session: ChainSession, protocol: Protocol, index: int) -> tuple[list[str], list[int], bool, int]:
    observation = session.reset(episode_spec(protocol, "chains", index))
    instructions, progress = [observation["instruction"]], []
    steps, success = 0, False
    while True:
        result = session.step(np.zeros(1, np.float32))
        steps += 1
        instructions.append(result.observation["instruction"])
        progress.append(result.info[SUBTASKS_COMPLETED_KEY])
        assert result.info.keys() == {"subtasks_completed", "chain_index"}  # simulator info stays in the worker
        if result.terminated:
            success = result.success
            break
        assert not result.success
    return instructions, progress, success, steps


def test_one_episode_runs_one_chain_until_its_first_failure() -> None:
    protocol = fake_chain_protocol(steps_per_subtask=5)
    chains = generate_chains(protocol.chain)  # type: ignore[arg-type]
    session = ChainSession(protocol, FakeChainBackend(protocol))
    for index in range(6):
        done = min(COMPLETES[index], 3)
        instructions, progress, success, steps = run_chain(session, protocol, index)
        chain = chains[index].subtasks
        assert session.task_spec.instruction == INSTRUCTIONS[chain[0]]
        assert progress[-1] == done
        assert success == (done == 3)
        # each completed subtask took DELAY steps; a failed one used its whole budget of 5
        assert steps == done * DELAY + (0 if done == 3 else 5)
        seen = list(dict.fromkeys(instructions))  # the instruction changes as subtasks complete, in chain order
        assert seen == [INSTRUCTIONS[name] for name in chain[: min(done + 1, 3)]]
        with pytest.raises(RuntimeError, match="step after the chain ended"):
            session.step(np.zeros(1, np.float32))


def test_chain_progress_reaches_the_records_and_the_scores(tmp_path: Path) -> None:
    protocol = fake_chain_protocol()
    result = evaluate("baseline:zero", protocol, out=tmp_path, workers=1, envs_per_worker=3)
    records = sorted(result.records, key=lambda r: r.episode_index)
    completed = [min(c, 3) for c in COMPLETES]
    assert [r.subtasks_completed for r in records] == completed
    assert [r.chain_index for r in records] == list(range(6))
    assert [r.success for r in records] == [c == 3 for c in completed]
    scores = result.summary["scores"]
    chain = scores["tasks"]["chains"]["chain"]
    assert [rate["successes"] for rate in chain["success_rates"]] == [4, 3, 2]
    assert chain["average_length"]["mean"] == pytest.approx(sum(completed) / 6)
    assert scores["tasks"]["chains"]["primary"] == pytest.approx(1.5)
    assert scores["aggregate"]["mean"]["mean"] == pytest.approx(1.5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert schema_errors("summary", summary) == []
    for line in (tmp_path / "episodes.jsonl").read_text().splitlines():
        assert schema_errors("episode", json.loads(line)) == []
