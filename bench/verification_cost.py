"""Verification cost and the spread of re-running the same ONNX policy (not a test; prints numbers and ratios).

1. Spread: the secret-style sample of a committed baseline bundle (PPO Hopper, BC MT10) is re-run from its
   committed ONNX artifact exactly as the verify-worker does, with 1 and 2 env worker processes and with
   1 or 8 episodes batched per policy call; every re-run is compared with the bundle (made on another day,
   with 1 or 2 workers x 8) and with the other re-runs: max |dR| and success mismatches. This is what the
   tolerance |dR| <= 1e-6*|R| + 1e-3 has to cover.
2. Cost: the sample's re-run time against a full evaluation of the same protocol measured in the same run
   (same agent, same workers), and the fraction of episodes re-run. Goal: <= 10% of the episodes for the
   guarantee ">= 10% fabricated caught with >= 95%" where the protocol is large (MT10: 28 of 500).
3. Worker throughput: verification jobs per minute with 1 and with 2 `vla-bench server verify-worker`
   processes on one SQLite queue (4 Hopper jobs of 4 episodes each).

Run: ``.venv/bin/python bench/verification_cost.py [--protocols mujoco/hopper@v1] [--skip-throughput]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import vla_bench
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import full_plan
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.server.verification.compare import Tolerance
from vla_bench.server.verification.rerun import artifact_agent, rerun_episodes
from vla_bench.server.verification.sampling import SamplingPolicy, choose_sample, sample_size
from vla_bench.spec import EpisodeRecord

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # protocol -> (committed bundle, committed ONNX export)
    "mujoco/hopper@v1": ("mujoco-hopper--baseline-ppo-hopper", "ppo-hopper"),
    "metaworld/mt10@v1": ("metaworld-mt10--baseline-bc-mt10", "bc-mt10"),
}
CONFIGS = ((1, 1), (1, 8), (2, 8))  # (env worker processes, episodes batched per policy call)


def _case(protocol_id: str) -> tuple[dict[str, Any], dict[tuple[str, int], EpisodeRecord], Path, str]:
    bundle, agent = CASES[protocol_id]
    document = read_bundle_document(ROOT / "results" / bundle)
    claimed = {r.key: r for r in (EpisodeRecord.from_json(line) for line in document["episodes"])}
    model = ROOT / "results" / "agents" / agent / "model.onnx"
    return document["summary"], claimed, model, document["summary"]["agent"]["sha256"]


def spread_and_cost(protocol_id: str) -> dict[str, Any]:
    protocol = get_protocol(protocol_id)
    summary, claimed, model, sha = _case(protocol_id)
    keys = [spec.key for spec in full_plan(protocol)]
    n = sample_size(len(keys), SamplingPolicy())
    sample = choose_sample(b"bench-secret", 1, 1, keys, n)
    runs: dict[tuple[int, int], dict[tuple[str, int], EpisodeRecord]] = {}
    seconds: dict[tuple[int, int], float] = {}
    for workers, batch in CONFIGS:
        agent = artifact_agent(model, sha, summary["agent"])
        result = rerun_episodes(protocol, agent, sample, workers=workers, envs_per_worker=batch)
        runs[(workers, batch)] = {r.key: r for r in result.records}
        seconds[(workers, batch)] = result.seconds
        print(f"  {protocol_id}: re-ran {n} episodes with {workers} worker(s) x {batch}: {result.seconds:.1f} s",
              flush=True)
    tol = Tolerance()
    rows = []
    for config, records in runs.items():
        diffs = [abs(records[k].total_return - claimed[k].total_return) for k in sample]
        success = sum(records[k].success != claimed[k].success for k in sample)
        outside = sum(not tol.allows(claimed[k].total_return, records[k].total_return) for k in sample)
        rows.append({"config": f"{config[0]}x{config[1]}", "vs": "bundle", "max_abs_dR": max(diffs),
                     "success_mismatches": success, "outside_tolerance": outside})
    base = runs[CONFIGS[0]]
    for config, records in list(runs.items())[1:]:
        diffs = [abs(records[k].total_return - base[k].total_return) for k in sample]
        rows.append({"config": f"{config[0]}x{config[1]}", "vs": "1x1 re-run", "max_abs_dR": max(diffs),
                     "success_mismatches": sum(records[k].success != base[k].success for k in sample),
                     "outside_tolerance": sum(not tol.allows(base[k].total_return, records[k].total_return)
                                              for k in sample)})
    workers, batch = summary["run"]["workers"], summary["run"]["envs_per_worker"]
    started = time.perf_counter()
    vla_bench.evaluate(str(model), protocol, workers=workers, envs_per_worker=batch)
    full_s = time.perf_counter() - started
    same = (workers, batch) if (workers, batch) in seconds else (1, 8)
    return {"protocol": protocol_id, "population": len(keys), "sample": n, "spread": rows,
            "full_eval_s": full_s, "full_eval_config": f"{workers}x{batch}", "sample_s": seconds[same],
            "sample_config": f"{same[0]}x{same[1]}"}


def throughput(n_jobs: int = 4, episodes: int = 4) -> dict[int, float]:
    from vla_bench.server.core.config import Settings
    from vla_bench.server.core.db import Database
    from vla_bench.server.core.migrate import upgrade
    from vla_bench.server.models import User, utcnow
    from vla_bench.server.services.submissions import store_bundle
    from vla_bench.server.validation import validate_bundle
    from vla_bench.server.verification import service

    out: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="vlab-verify-bench-") as tmp:
        url = f"sqlite:///{tmp}/queue.sqlite3"
        settings = Settings(database_url=url, artifacts_dir=Path(tmp) / "artifacts", verification_secret="bench",
                            verify_protocols={"mujoco/hopper@v1": {"max_episodes": episodes}})
        db = Database(url)
        upgrade(db.engine)
        with db.write() as session:
            user = User(name="bench", role="admin", created_at=utcnow())
            session.add(user)
        with db.session() as session:
            user = session.query(User).one()
            session.expunge(user)
        document = read_bundle_document(ROOT / "results" / CASES["mujoco/hopper@v1"][0])
        model = (ROOT / "results" / "agents" / "ppo-hopper" / "model.onnx").read_bytes()
        ids = []
        for i in range(n_jobs):
            document["summary"]["agent"]["name"] = f"ppo-{i}"
            stored = store_bundle(db, validate_bundle(json.loads(json.dumps(document))), user_id=user.id,
                                  received_at=utcnow(), publish=True)
            ids.append(stored.submission_id)
            service.attach_artifact(db, settings, stored.submission_id, user, model)
        env = {**os.environ, "VLA_BENCH_ARTIFACTS_DIR": str(Path(tmp) / "artifacts")}
        for n_workers in (1, 2):
            if n_workers == 2:
                for submission in ids:
                    service.requeue(db, settings, submission, "bench")
            command = [sys.executable, "-m", "vla_bench.cli", "server", "verify-worker", "--db", url, "--once"]
            started = time.perf_counter()
            procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(n_workers)]
            for proc in procs:
                proc.wait()
            elapsed = time.perf_counter() - started
            out[n_workers] = n_jobs / elapsed * 60
            print(f"  {n_workers} worker(s): {n_jobs} jobs in {elapsed:.1f} s = {out[n_workers]:.2f} jobs/min",
                  flush=True)
        db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    protocols = [p for p in args.protocols.split(",") if p]
    print("1-2. spread and cost (configs are env worker processes x episodes per policy batch)")
    for protocol_id in protocols:
        result = spread_and_cost(protocol_id)
        for row in result["spread"]:
            print(f"  {protocol_id} {row['config']:>4} vs {row['vs']:<10}: max |dR| {row['max_abs_dR']:.3g}, "
                  f"success mismatches {row['success_mismatches']}, outside tolerance {row['outside_tolerance']}")
        ratio = result["sample_s"] / result["full_eval_s"]
        print(f"  {protocol_id}: sample {result['sample']} of {result['population']} episodes "
              f"({result['sample'] / result['population']:.1%}); re-run {result['sample_s']:.1f} s "
              f"({result['sample_config']}) vs full evaluation {result['full_eval_s']:.1f} s "
              f"({result['full_eval_config']}): cost ratio {ratio:.2f}", flush=True)
    if not args.skip_throughput:
        print("3. worker throughput (4 Hopper jobs x 4 episodes, SQLite queue)")
        rates = throughput()
        print(f"  2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
