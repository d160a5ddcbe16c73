"""spec.bundle: the one reader and writer of summary.json and episodes.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vla_bench.spec.bundle import (
    BundleError,
    jsonl_lines,
    load_summary_json,
    read_episodes,
    read_summary,
    write_summary,
)

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "results" / "mujoco-hopper--baseline-random"


def test_a_summary_read_and_written_is_the_same_file(tmp_path: Path) -> None:
    summary = read_summary(BUNDLE / "summary.json")
    assert summary.protocol.id == "mujoco/hopper@v1" and summary.scores is not None
    assert summary.scores.aggregate.metric == "normalized_score"
    write_summary(tmp_path / "summary.json", summary)
    assert (tmp_path / "summary.json").read_bytes() == (BUNDLE / "summary.json").read_bytes()


def test_a_summary_off_its_schema_is_refused_with_the_file_and_the_path(tmp_path: Path) -> None:
    document = json.loads((BUNDLE / "summary.json").read_text())
    document["n_episodes_done"] = -1
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(document))
    with pytest.raises(BundleError, match=r"summary.json: .*\$\.n_episodes_done"):
        read_summary(path)


def test_nan_in_a_summary_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"a": NaN}')
    with pytest.raises(BundleError, match="NaN is not valid JSON"):
        load_summary_json(path)


def test_episode_lines_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    assert jsonl_lines(path, b'{"a": 1}\n\n[2]\n') == [(1, {"a": 1}), (3, [2])]
    with pytest.raises(BundleError, match=r"episodes.jsonl:2: not UTF-8"):
        jsonl_lines(path, b'{}\n\xff\n')
    path.write_bytes(b"[1, 2]\n")
    with pytest.raises(BundleError, match=r"episodes.jsonl:1: not a valid episode record: a JSON object"):
        read_episodes(path)


def test_the_committed_episodes_read_back() -> None:
    records = read_episodes(BUNDLE / "episodes.jsonl")
    assert len(records) == read_summary(BUNDLE / "summary.json").n_episodes_done
