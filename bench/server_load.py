"""Bounded load on the leaderboard server over loopback: concurrent submitters and readers against a database
seeded with many submissions. Prints requests/s and p50/p99 latency per kind of request, then checks that
every accepted submission is stored exactly once (duplicates sent on purpose must map to one row).

    python bench/server_load.py                      # SQLite, defaults below
    python bench/server_load.py --backend postgres   # an ephemeral PostgreSQL cluster (initdb/pg_ctl)

The server runs as a real `vla-bench serve` subprocess (one uvicorn worker); the load generator is an asyncio
httpx client in this process. Bundles are real runs of the harness (a few agents); seeded and submitted
entries reuse their episodes under distinct agent names, and the server validates and rescores every POST.
Not a test: numbers depend on the machine (2 cores here, shared by server and client).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
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
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

import vla_bench
from vla_bench.agents.policy import LoadedAgent
from vla_bench.server import crud
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import upgrade
from vla_bench.server.models import Submission, utcnow
from vla_bench.server.validation import agent_identity, validate_bundle

PROTOCOL = "mujoco/hopper@v1"


class ConstantPolicy:
    def __init__(self, value: float) -> None:
        self.value, self.dim = value, 0

    def reset(self, task: Any) -> None:
        self.dim = task.action_dim

    def act(self, observation: Any) -> np.ndarray:
        return np.full(self.dim, self.value, dtype=np.float32)


def make_bundles(root: Path) -> list[dict[str, Any]]:
    """Real runs: two baselines and a few constant-action agents (distinct episode outcomes)."""
    documents = []
    for agent in ("baseline:random", "baseline:zero"):
        vla_bench.evaluate(agent, PROTOCOL, out=root / agent.replace(":", "-"))
        documents.append(read_bundle_document(root / agent.replace(":", "-")))
    for value in (-0.5, 0.25, 0.5):
        loaded = LoadedAgent(spec=f"bench:constant{value}", kind="object", name=f"constant{value}",
                             factory=lambda v=value: ConstantPolicy(v))
        vla_bench.evaluate(loaded, PROTOCOL, out=root / f"constant{value}")
        documents.append(read_bundle_document(root / f"constant{value}"))
    return documents


def renamed(document: dict[str, Any], name: str) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    copied["summary"]["agent"]["name"] = name
    return copied


def seed(db: Database, documents: list[dict[str, Any]], count: int) -> None:
    """Insert ``count`` published submissions directly (checked once per real bundle, renamed after)."""
    accepted = [validate_bundle(d) for d in documents]
    with db.write() as session:
        user = crud.create_user(session=session, name="seeder")
    for start in range(0, count, 250):
        with db.write() as session:
            for index in range(start, min(count, start + 250)):
                base = accepted[index % len(accepted)]
                summary = copy.deepcopy(base.summary)
                summary["agent"]["name"] = f"seeded-{index:05d}"
                entry = dataclasses.replace(base, summary=summary, agent_identity=agent_identity(summary["agent"]))
                crud.add_submission(session=session, accepted=entry, user=user, received_at=utcnow())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def sqlite_file(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'board.sqlite3'}"


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
def running_server(database_url: str, port: int, workdir: Path) -> Iterator[str]:
    env = {**os.environ, "VLA_BENCH_DATABASE_URL": database_url, "VLA_BENCH_SUBMIT_RATE_LIMIT": "1000000",
           "VLA_BENCH_RESULTS_DIR": str(workdir / "no-results")}
    (workdir / "no-results").mkdir(exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "vla_bench.cli", "serve", "--port", str(port),
                                "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclasses.dataclass
class Load:
    url: str
    deadline: float
    budget: int  # requests left, all kinds together
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    accepted: dict[str, set[int]] = dataclasses.field(default_factory=lambda: defaultdict(set))  # agent -> ids

    def take(self) -> bool:
        if self.budget <= 0 or time.monotonic() > self.deadline:
            return False
        self.budget -= 1
        return True

    async def timed(self, kind: str, request: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response: httpx.Response = await request
        except httpx.HTTPError:
            self.errors[kind] += 1
            return None
        self.latencies[kind].append(time.perf_counter() - start)
        return response


async def submitter(load: Load, client: httpx.AsyncClient, token: str, worker: int,
                    documents: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    while load.take():
        # Every third submission re-sends a bundle a sibling sends too: they must end up as one row.
        name = f"dup-{sent // 3:04d}" if sent % 3 == 2 else f"load-{worker}-{sent:05d}"
        body = json.dumps(renamed(documents[sent % len(documents)] if sent % 3 != 2 else documents[0], name))
        response = await load.timed("POST /api/v1/submissions", client.post("/api/v1/submissions", content=body,
                                                                             headers=headers))
        sent += 1
        if response is None:
            continue
        if response.status_code in (200, 201):
            load.accepted[name].add(response.json()["id"])
        else:
            load.errors["POST /api/v1/submissions"] += 1


async def reader(load: Load, client: httpx.AsyncClient, worker: int, first_id: int, last_id: int) -> None:
    count = 0
    while load.take():
        choice = (worker + count) % 4
        count += 1
        if choice == 0:
            kind, path = "GET /leaderboard/… (page)", f"/leaderboard/{PROTOCOL}?page={1 + count % 5}"
        elif choice == 1:
            kind, path = "GET /api/v1/leaderboards/…", f"/api/v1/leaderboards/{PROTOCOL}?offset={50 * (count % 5)}"
        elif choice == 2:
            submission_id = first_id + count % (last_id - first_id)
            kind, path = "GET /api/v1/submissions/{id}", f"/api/v1/submissions/{submission_id}"
        else:
            kind, path = "GET / (overview page)", "/"
        response = await load.timed(kind, client.get(path))
        if response is not None and response.status_code != 200:
            load.errors[kind] += 1


async def run_load(url: str, tokens: list[str], documents: list[dict[str, Any]], readers: int, duration: float,
                   max_requests: int, first_id: int, last_id: int) -> tuple[Load, float]:
    load = Load(url=url, deadline=time.monotonic() + duration, budget=max_requests)
    limits = httpx.Limits(max_connections=len(tokens) + readers)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(submitter(load, client, token, i, documents) for i, token in enumerate(tokens)),
            *(reader(load, client, i, first_id, last_id) for i in range(readers)),
        )
        return load, time.perf_counter() - started


def report(load: Load, elapsed: float) -> None:
    print(f"\n{'request':34s} {'n':>6s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    total = 0
    for kind in sorted(set(load.latencies) | set(load.errors)):
        samples = sorted(load.latencies.get(kind, []))
        total += len(samples)
        p50 = statistics.median(samples) * 1000 if samples else float("nan")
        p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))] * 1000 if samples else float("nan")
        print(f"{kind:34s} {len(samples):6d} {len(samples) / elapsed:8.1f} {p50:8.1f} {p99:8.1f} "
              f"{load.errors.get(kind, 0):7d}")
    print(f"{'all':34s} {total:6d} {total / elapsed:8.1f}   over {elapsed:.1f} s")


def verify(database_url: str, load: Load, seeded: int) -> bool:
    """Every accepted name is one row with the id the API returned; nothing else was added."""
    db = Database(database_url)
    try:
        with db.session() as session:
            rows = session.execute(sa.select(Submission.agent_name, Submission.id)).all()
    finally:
        db.dispose()
    by_name: dict[str, list[int]] = defaultdict(list)
    for name, submission_id in rows:
        by_name[name].append(submission_id)
    problems = [f"{name}: API ids {sorted(ids)}, stored {by_name.get(name)}" for name, ids in load.accepted.items()
                if len(ids) != 1 or by_name.get(name) != sorted(ids)]
    expected_rows = seeded + len(load.accepted)
    if len(rows) != expected_rows:
        problems.append(f"{len(rows)} rows stored, expected {seeded} seeded + {len(load.accepted)} accepted")
    duplicates_sent = sum(1 for name in load.accepted if name.startswith("dup-"))
    print(f"\nverification: {len(load.accepted)} distinct accepted submissions ({duplicates_sent} of them sent by "
          f"several submitters), {len(rows)} rows: {'OK, each stored exactly once' if not problems else 'FAILED'}")
    for problem in problems[:10]:
        print("  " + problem)
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=2000, help="submissions in the database before the load")
    parser.add_argument("--submitters", type=int, default=4)
    parser.add_argument("--readers", type=int, default=12)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds, at most")
    parser.add_argument("--max-requests", type=int, default=6000, help="requests, at most")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vlab-load-"))
    with sqlite_file(workdir) if args.backend == "sqlite" else postgres_cluster() as database_url:
        print(f"backend {args.backend}; making real bundles ...", flush=True)
        documents = make_bundles(workdir / "bundles")
        db = Database(database_url)
        upgrade(db.engine)
        started = time.perf_counter()
        seed(db, documents, args.seed)
        settings = Settings(database_url=database_url)
        with db.write() as session:
            tokens = []
            for i in range(args.submitters):
                user = crud.create_user(session=session, name=f"submitter{i}")
                tokens.append(crud.create_token(session=session, user=user, secret_key=settings.secret_key)[1])
        with db.session() as session:
            first_id = session.scalar(sa.select(sa.func.min(Submission.id))) or 1
            last_id = session.scalar(sa.select(sa.func.max(Submission.id))) or 1
        db.dispose()
        print(f"seeded {args.seed} submissions in {time.perf_counter() - started:.1f} s; load: {args.submitters} "
              f"submitters + {args.readers} readers, at most {args.max_requests} requests / {args.duration:g} s",
              flush=True)
        with running_server(database_url, free_port(), workdir) as url:
            load, elapsed = asyncio.run(run_load(url, tokens, documents, args.readers, args.duration,
                                                 args.max_requests, first_id, last_id + 1))
        report(load, elapsed)
        ok = verify(database_url, load, args.seed)
    shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
