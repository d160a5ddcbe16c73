"""The leaderboard server at scale, over loopback: a database seeded with 10,000 submissions and about 1,000,000
episodes, then

- leaderboard page and leaderboard API latency (p50/p99) at concurrency 10,
- the page of a 2,500-episode submission (p99),
- 1,000 concurrent GETs (status counts: only deliberate 503s may be 5xx) and /api/v1/health 1 s after,
- reads while a stream of 2,500-episode submissions is ingested, against the same reads idle (ratio).

    python bench/server_load.py                                 # SQLite, the full seed
    python bench/server_load.py --backend postgres              # an ephemeral PostgreSQL cluster (initdb/pg_ctl)
    python bench/server_load.py --submissions 2000 --workers 2  # a smaller seed

The server is a real `vla-bench serve --workers N` (the serving set-up of the operator guide). Seeding is direct
SQL bulk inserts of real bundles from results/ (hopper runs and the 2,500-episode MetaWorld MT50 run) under
distinct agent names; the ingestion stream POSTs that MT50 bundle, validated and rescored by the server.
Not a test: numbers depend on the machine (2 cores here, shared by server and load generator and, in this
session, by other jobs), so they are lower bounds; the printed ratios are against the goals of issue #11 and
against the idle reads of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from vla_bench.server import crud
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import upgrade
from vla_bench.server.models import Submission, SubmissionBundle, SubmissionEvent, utcnow
from vla_bench.server.validation import AcceptedBundle, validate_bundle

RESULTS = Path(__file__).resolve().parents[1] / "results"
BIG = RESULTS / "metaworld-mt50--baseline-metaworld-scripted"  # 2,500 episodes
BOARD = "mujoco/hopper@v1"
SECRET = "bench-secret-" + "x" * 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


# --- seeding ------------------------------------------------------------------------------------------------
def real_bundles() -> tuple[list[AcceptedBundle], AcceptedBundle]:
    small = [validate_bundle(read_bundle_document(d), allow_deprecated=True)
             for d in sorted(RESULTS.glob("mujoco-hopper--*")) if (d / "summary.json").is_file()]
    return small, validate_bundle(read_bundle_document(BIG), allow_deprecated=True)


def _rows(accepted: AcceptedBundle, index: int, user_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"{accepted.summary['agent']['name']}-seed{index}"
    jitter = (index % 997) / 997 * 0.05  # distinct scores, so ranks and sorting do real work
    agg = accepted.scores["aggregate"]
    mean = (agg["mean"] or {}).get("mean")
    low, high = (agg["mean"] or {}).get("ci95", [None, None])
    iqm = (agg["iqm"] or {}).get("mean")
    now = utcnow()
    submission = {
        "id": index, "user_id": user_id, "status": "published", "reason": None, "is_baseline": False,
        "is_verified": False, "hidden": False, "benchmark": accepted.protocol.benchmark,
        "protocol_id": accepted.protocol.id, "protocol_version": accepted.protocol.version,
        "protocol_sha256": accepted.protocol.sha256(), "primary_metric": accepted.protocol.primary_metric,
        "agent_name": name, "agent_spec": accepted.summary["agent"]["spec"], "agent_kind": "bench",
        "agent_sha256": None, "agent_identity": hashlib.sha256(name.encode()).hexdigest(),
        "episodes_sha256": accepted.episodes_sha256, "n_episodes": agg["n_episodes"], "n_errors": agg["n_errors"],
        "score_mean": None if mean is None else mean + jitter, "score_low": low, "score_high": high,
        "iqm_mean": iqm, "iqm_low": None, "iqm_high": None, "harness_version": "bench",
        "run_finished_at": accepted.summary["finished_at"], "submitted_at": now,
    }
    bundle = {"submission_id": index, "summary": accepted.summary, "scores": accepted.scores}
    return submission, bundle


def seed(url: str, n_submissions: int, n_big: int) -> tuple[int, str, int]:
    """Bulk-insert ``n_submissions`` (``n_big`` of them 2,500-episode MT50 runs); (episodes, token, big id)."""
    small, big = real_bundles()
    db = Database(url)
    upgrade(db.engine)
    with db.write() as session:
        user = crud.create_user(session=session, name="bench")
        _, token = crud.create_token(session=session, user=user, secret_key=SECRET)
        user_id = user.id
    texts = {id(a): a.episodes_jsonl() for a in [*small, big]}
    episodes, chunk = 0, 500
    for start in range(1, n_submissions + 1, chunk):
        subs, bundles, events = [], [], []
        for index in range(start, min(start + chunk, n_submissions + 1)):
            accepted = big if index <= n_big else small[index % len(small)]
            sub, bundle = _rows(accepted, index, user_id)
            bundle["episodes_jsonl"] = texts[id(accepted)]
            subs.append(sub)
            bundles.append(bundle)
            events += [{"submission_id": index, "state": state, "at": sub["submitted_at"], "actor": "bench",
                        "note": None} for state in ("submitted", "validated", "published")]
            episodes += sub["n_episodes"]
        with db.write() as session:
            session.execute(sa.insert(Submission), subs)
            session.execute(sa.insert(SubmissionBundle), bundles)
            session.execute(sa.insert(SubmissionEvent), events)
    with db.write() as session:  # ids were given explicitly: move PostgreSQL's sequence past them
        if db.backend == "postgresql":
            session.execute(sa.text("SELECT setval('submissions_id_seq', (SELECT max(id) FROM submissions))"))
    db.dispose()
    return episodes, token, 1


# --- the server ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """An ephemeral cluster (as the postgres user when run as root; initdb refuses root)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        raise SystemExit("initdb/pg_ctl not found: install PostgreSQL or use --backend sqlite")
    root = Path(tempfile.mkdtemp(prefix="vlab-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(root / "data"), "-l", str(root / "log"), "-w", "start", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"],
                   check=True, capture_output=True)
    try:
        admin = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql("CREATE DATABASE board")
        admin.dispose()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/board"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(root / "data"), "-m", "fast", "-w", "stop"], capture_output=True,
                       check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def running_server(url: str, port: int, workers: int, threads: int) -> Iterator[str]:
    env = {**os.environ, "VLA_BENCH_DATABASE_URL": url, "VLA_BENCH_SECRET_KEY": SECRET,
           "VLA_BENCH_ENVIRONMENT": "production", "VLA_BENCH_SUBMIT_RATE_LIMIT": "100000",
           "VLA_BENCH_LOAD_BASELINES": "false", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "vla_bench.cli", "serve", "--port", str(port), "--workers",
                                str(workers), "--threads", str(threads), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- load ---------------------------------------------------------------------------------------------------
async def timed_gets(client: httpx.AsyncClient, path: str, total: int, concurrency: int,
                     ) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


async def burst(base: str, n: int) -> tuple[Counter[int], list[float]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        paths = [("/api/v1/health", f"/leaderboard/{BOARD}", f"/api/v1/leaderboards/{BOARD}")[i % 3] for i in range(n)]
        responses = await asyncio.gather(*(client.get(p) for p in paths), return_exceptions=True)
        statuses = Counter(r.status_code if isinstance(r, httpx.Response) else "error" for r in responses)
        await asyncio.sleep(1.0)
        health = []
        for _ in range(5):
            started = time.perf_counter()
            await client.get("/api/v1/health")
            health.append((time.perf_counter() - started) * 1000)
    return statuses, health  # type: ignore[return-value]


async def ingest(base: str, token: str, document: dict[str, Any], stop: asyncio.Event) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        index = 0
        while not stop.is_set():
            body = copy.deepcopy(document)
            body["summary"]["agent"]["name"] = f"ingested-{index}-{time.time_ns()}"
            response = await client.post("/api/v1/submissions", content=json.dumps(body),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            statuses.append(response.status_code)
            index += 1
    return statuses


async def measure(base: str, token: str, requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        for label, path in (("leaderboard page", f"/leaderboard/{BOARD}"),
                            ("leaderboard API", f"/api/v1/leaderboards/{BOARD}"),
                            ("2,500-episode submission page", "/submissions/1")):
            await timed_gets(client, path, 20, 10)  # warm-up
            out[label] = await timed_gets(client, path, requests, 10)
        document = read_bundle_document(BIG)
        stop = asyncio.Event()
        ingestion = asyncio.create_task(ingest(base, token, document, stop))
        await asyncio.sleep(0.5)
        out["leaderboard API during ingestion"] = await timed_gets(client, f"/api/v1/leaderboards/{BOARD}",
                                                                   requests, 10)
        stop.set()
        out["ingested"] = Counter(await ingestion)
    out["burst"] = await burst(base, 1000)
    return out


def report(results: dict[str, Any], seeded: tuple[int, int], elapsed_seed: float) -> None:
    print(f"seeded {seeded[0]:,} submissions / {seeded[1]:,} episodes in {elapsed_seed:.0f} s")
    goals = {"leaderboard page": (10, 50), "leaderboard API": (10, 50), "2,500-episode submission page": (None, 100)}
    print(f"{'reads at concurrency 10':40s} {'p50 ms':>8s} {'p99 ms':>8s} {'goal p50/p99':>14s} "
          f"{'p99/goal':>9s}  statuses")
    for label in (*goals, "leaderboard API during ingestion"):
        latencies, statuses = results[label]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        goal = goals.get(label)
        goal_text = f"{goal[0] or '-'}/{goal[1]}" if goal else "-"
        ratio = f"{p99 / goal[1]:.2f}" if goal else "-"
        print(f"{label:40s} {p50:8.1f} {p99:8.1f} {goal_text:>14s} {ratio:>9s}  {dict(statuses)}")
    idle = percentile(results["leaderboard API"][0], 99)
    busy = percentile(results["leaderboard API during ingestion"][0], 99)
    print(f"reads' p99 during ingestion / idle p99: {busy / idle:.2f} (goal <= 2); "
          f"submissions ingested meanwhile: {dict(results['ingested'])}")
    statuses, health = results["burst"]
    five = {k: v for k, v in statuses.items() if isinstance(k, int) and k >= 500}
    print(f"1,000 concurrent GETs: {dict(statuses)}; 5xx other than 503: "
          f"{sum(v for k, v in five.items() if k != 503)}; health 1 s after: "
          f"{statistics.median(health):.1f} ms median, {max(health):.1f} ms max (goal < 100)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=204, help="2,500-episode submissions among them")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300, help="requests per latency measurement")
    parser.add_argument("--port", type=int, default=0, help="[a free port]")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vlab-load-"))
    try:
        with (postgres_cluster() if args.backend == "postgres"
              else _sqlite(workdir)) as url:
            started = time.monotonic()
            episodes, token, _ = seed(url, args.submissions, args.big)
            elapsed_seed = time.monotonic() - started
            with running_server(url, args.port or free_port(), args.workers, args.threads) as base:
                print(f"{args.backend}: vla-bench serve --workers {args.workers} --threads {args.threads}")
                results = asyncio.run(measure(base, token, args.requests))
            report(results, (args.submissions, episodes), elapsed_seed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _sqlite(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'board.sqlite3'}"


if __name__ == "__main__":
    main()
