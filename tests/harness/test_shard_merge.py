"""Sharded runs merge into exactly the records of an unsharded run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents.baselines import ZeroPolicy
from vla_bench.agents.loaders import agent_from_object
from vla_bench.harness.bundle import read_bundle
from vla_bench.harness.eval_config import EvalConfig
from vla_bench.harness.merge import merge_bundles
from vla_bench.harness.runner import run_evaluation
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError


def _run_shard(protocol: Protocol, out: Path, index: int, count: int, agent: object = LinearPolicy) -> None:
    run_evaluation(protocol, agent_from_object(agent), out, EvalConfig(progress=False, shard=(index, count)))


def test_shards_merge_into_the_unsharded_records(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=7)
    whole = vla_bench.evaluate(LinearPolicy, protocol, out=tmp_path / "whole")
    for index in range(3):
        _run_shard(protocol, tmp_path / f"shard{index}", index, 3)
    shard_sizes = [len(read_bundle(tmp_path / f"shard{i}").records) for i in range(3)]
    assert shard_sizes == [5, 5, 4]
    # a shard directory given twice is de-duplicated, not double-counted
    dirs = [tmp_path / "shard0", tmp_path / "shard1", tmp_path / "shard2", tmp_path / "shard1"]
    summary = merge_bundles(dirs, tmp_path / "merged")
    merged = read_bundle(tmp_path / "merged")
    assert {r.key: r.outcome() for r in merged.records} == {r.key: r.outcome() for r in whole.records}
    assert summary["scores"] == whole.scores
    assert summary["status"] == "complete"


def test_merge_refuses_different_agents_or_protocols(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=4)
    _run_shard(protocol, tmp_path / "a", 0, 2)
    _run_shard(protocol, tmp_path / "b", 1, 2, agent=ZeroPolicy)
    with pytest.raises(UserError, match="different agent"):
        merge_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    _run_shard(fake_protocol(episodes=4, suite="other"), tmp_path / "c", 1, 2)
    with pytest.raises(UserError, match="different protocol"):
        merge_bundles([tmp_path / "a", tmp_path / "c"], tmp_path / "out2")


def test_merge_refuses_conflicting_copies_of_an_episode(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=4)
    _run_shard(protocol, tmp_path / "a", 0, 2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    lines = (tmp_path / "b" / "episodes.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["total_return"] += 1.0
    (tmp_path / "b" / "episodes.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    with pytest.raises(UserError, match="differs between shards"):
        merge_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
