"""The results bundle: schema-valid summary, streamed episodes, self-describing protocol copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness.bundle import BundleError, read_bundle, read_episodes
from vla_bench.scoring.scores import compute_scores
from vla_bench.spec.schemas import schema_errors


def test_bundle_is_schema_valid_and_every_score_recomputes_from_episodes(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=5, success=True,
                             tasks=[{"name": "a", "env_id": "fake", "env_kwargs": {"success_at": 2.5}},
                                    {"name": "b", "env_id": "fake"}])
    result = vla_bench.evaluate(LinearPolicy, protocol, out=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert schema_errors("summary", summary) == []
    for line in (tmp_path / "episodes.jsonl").read_text().splitlines():
        assert schema_errors("episode", json.loads(line)) == []
    bundle = read_bundle(tmp_path)
    assert bundle.protocol() == protocol
    assert compute_scores(bundle.protocol(), bundle.records) == summary["scores"] == result.scores
    assert summary["protocol"]["sha256"] == protocol.sha256()
    assert summary["status"] == "complete" and summary["official"] is True
    assert summary["agent"]["kind"] == "object"
    assert {"harness_version", "git", "packages", "renderer", "machine"} <= set(summary["provenance"])


def test_a_limited_run_is_marked_unofficial(tmp_path: Path) -> None:
    result = vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=5), out=tmp_path, limit_episodes=2)
    assert result.summary["official"] is False
    assert result.summary["n_episodes_planned"] == 4
    assert len(result.records) == 4


def test_reading_episodes_names_the_bad_line_and_catches_duplicates(tmp_path: Path) -> None:
    vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=2), out=tmp_path)
    path = tmp_path / "episodes.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(BundleError, match=r"episodes.jsonl:2: episode \('.', \d\) appears twice"):
        read_episodes(path)
    path.write_text(lines[0] + "\n{not json}\n")
    with pytest.raises(BundleError, match=r"episodes.jsonl:2: not a valid episode record"):
        read_episodes(path)


def test_a_tampered_protocol_copy_is_detected(tmp_path: Path) -> None:
    vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=2), out=tmp_path)
    copy = json.loads((tmp_path / "protocol.json").read_text())
    copy["max_steps"] += 1
    (tmp_path / "protocol.json").write_text(json.dumps(copy))
    with pytest.raises(BundleError, match="the protocol found is fake/points@v1 with hash"):
        read_bundle(tmp_path).protocol()


def test_a_summary_that_breaks_the_schema_is_refused(tmp_path: Path) -> None:
    vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=2), out=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["protocol"]["sha256"] = "abc"
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(BundleError, match=r"\$\.protocol\.sha256"):
        read_bundle(tmp_path)


def test_the_typed_summary_is_what_the_file_holds(tmp_path: Path) -> None:
    result = vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=3, success=True), out=tmp_path,
                                limit_episodes=2)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    bundle = read_bundle(tmp_path)
    assert bundle.summary_model.to_json() == on_disk == bundle.summary == result.summary
    typed = bundle.summary_model
    assert typed.status == "complete" and typed.official is False and typed.run.extra("limit_episodes") == 2
    assert typed.scores is not None and typed.scores.aggregate.metric == "success_rate"
    mean = typed.scores.aggregate.mean
    assert mean is not None and result.score is not None and float(result.score) == mean.mean
    assert set(result.task_scores) == set(typed.scores.tasks)
