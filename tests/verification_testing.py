"""Shared plumbing of the verification tests: the committed PPO Hopper bundle and its ONNX model (a real
policy and a real official bundle, no evaluation needed), bundles edited and re-scored, a server with a
fixed sample secret, and a real `vla-bench server verify-worker` process."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from leaderboard_testing import Server, make_server

from vla_bench.protocols import get_protocol
from vla_bench.scoring.scores import compute_scores
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.spec import EpisodeRecord

ROOT = Path(__file__).resolve().parents[1]
PPO_BUNDLE = ROOT / "results" / "mujoco-hopper--baseline-ppo-hopper"
PPO_MODEL = ROOT / "results" / "agents" / "ppo-hopper" / "model.onnx"
SECRET = "fixed-test-secret"
SUBMISSIONS = "/api/v1/submissions"
_CACHE: dict[Path, dict[str, Any]] = {}


def ppo_document() -> dict[str, Any]:
    if PPO_BUNDLE not in _CACHE:
        _CACHE[PPO_BUNDLE] = read_bundle_document(PPO_BUNDLE)
    return copy.deepcopy(_CACHE[PPO_BUNDLE])


def ppo_model() -> bytes:
    return PPO_MODEL.read_bytes()


def rescore(document: dict[str, Any]) -> dict[str, Any]:
    """Recompute the summary's scores from its (edited) episodes, so the bundle stays self-consistent."""
    protocol = get_protocol(document["summary"]["protocol"]["id"])
    records = [EpisodeRecord.from_json(line) for line in document["episodes"]]
    document["summary"]["scores"] = compute_scores(protocol, records)
    return document


def alter_returns(document: dict[str, Any], keys: list[tuple[str, int]], delta: float = 250.0) -> dict[str, Any]:
    for line in document["episodes"]:
        if (line["task"], line["episode_index"]) in keys:
            line["total_return"] += delta
    return rescore(document)


def with_agent_sha(document: dict[str, Any], data: bytes) -> dict[str, Any]:
    document["summary"]["agent"]["sha256"] = hashlib.sha256(data).hexdigest()
    return document


def verification_server(database_url: str, artifacts: Path, **settings: Any) -> Server:
    return make_server(database_url, artifacts_dir=artifacts, verification_secret=SECRET, **settings)


def worker_command(database_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vla_bench.cli", "server", "verify-worker", "--db", database_url, *extra]


def worker_env(artifacts: Path, **settings: str) -> dict[str, str]:
    env = {**os.environ, "VLA_BENCH_ARTIFACTS_DIR": str(artifacts), "VLA_BENCH_VERIFICATION_SECRET": SECRET,
           "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    env.update({f"VLA_BENCH_{k.upper()}": v for k, v in settings.items()})
    return env


def run_worker(database_url: str, artifacts: Path, *extra: str, timeout: float = 300,
               **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(worker_command(database_url, "--once", *extra), env=worker_env(artifacts, **settings),
                          capture_output=True, text=True, timeout=timeout, check=False)
