"""Reading a bundle directory for `vla-bench submit` (and `eval --resume`): a broken episodes.jsonl is an error
naming the file, the line and the problem, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from server.leaderboard_testing import Bundles

from vla_bench.harness.bundle import BundleError, read_episodes
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.spec.errors import UserError

BROKEN = {
    "not UTF-8": (b'{"task": "\xff\xfe"}', "not UTF-8 text"),
    "NaN literal": (b'{"task": "hop", "total_return": NaN}', "NaN is not valid JSON"),
    "Infinity literal": (b'{"task": "hop", "total_return": -Infinity}', "-Infinity is not valid JSON"),
}


def _broken_copy(bundles: Bundles, tmp_path: Path, line: bytes) -> Path:
    directory = tmp_path / "bundle"
    shutil.copytree(bundles.random, directory)
    episodes = directory / "episodes.jsonl"
    lines = episodes.read_bytes().split(b"\n")
    lines[2] = line  # the third line
    episodes.write_bytes(b"\n".join(lines))
    return directory


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_line_is_named_by_both_readers(bundles: Bundles, tmp_path: Path, case: str) -> None:
    line, phrase = BROKEN[case]
    directory = _broken_copy(bundles, tmp_path, line)
    with pytest.raises(UserError) as submitted:
        read_bundle_document(directory)
    with pytest.raises(BundleError) as resumed:
        read_episodes(directory / "episodes.jsonl")
    for error in (submitted.value, resumed.value):
        assert f"{directory / 'episodes.jsonl'}:3: " in str(error) and phrase in str(error)


def test_submit_of_a_broken_bundle_says_where_without_a_traceback(bundles: Bundles, tmp_path: Path) -> None:
    directory = _broken_copy(bundles, tmp_path, BROKEN["NaN literal"][0])
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "submit", str(directory), "--server",
                           "http://127.0.0.1:9", "--token", "vlab_x"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VLA_BENCH_TOKEN": ""})
    assert done.returncode == 2, done.stderr
    assert "episodes.jsonl:3: not a valid episode record: NaN is not valid JSON" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
