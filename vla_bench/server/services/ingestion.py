"""Validating and storing a submission, in the serving process or in child processes.

Validation of a large bundle is seconds of pure-Python work (schemas, plan, score recomputation). Run in a
thread of the serving process it holds the interpreter lock that every reader of that process needs, so
reads stall while a bundle is checked. With ``ingest_processes`` > 0 the work runs in child processes of
their own (started with ``spawn``, never forked from a threaded server), each with its own database engine:
the server only passes the raw body and gets back the stored submission's id, or the refusal. Nothing is
pickled but bytes, plain numbers and strings produced by this code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

from fastapi.concurrency import run_in_threadpool

from vla_bench.server.core.db import Database
from vla_bench.server.services.submissions import StoreResult, store_bundle
from vla_bench.server.validation import BundleRejectedError, parse_body, validate_bundle


@dataclass(frozen=True)
class IngestOptions:
    database_url: str
    rel_tol: float
    publish: bool


def validate_and_store(db: Database, raw: bytes, user_id: int, received_at: dt.datetime,
                       options: IngestOptions) -> StoreResult:
    accepted = validate_bundle(parse_body(raw), rel_tol=options.rel_tol)
    return store_bundle(db, accepted, user_id=user_id, received_at=received_at, publish=options.publish)


_CHILD_DATABASES: dict[str, Database] = {}
# what a child sends back: a refusal's status, message, field and errors, or the stored submission's id,
# whether it was created and its status
_Outcome = (tuple[Literal["rejected"], int, str, str | None, list[str]]
            | tuple[Literal["stored"], int, bool, str])


def _in_child(raw: bytes, user_id: int, received_at: dt.datetime, options: IngestOptions) -> _Outcome:
    """The child's side: plain tuples back (an exception with extra constructor arguments does not survive
    the trip between processes)."""
    db = _CHILD_DATABASES.get(options.database_url)
    if db is None:
        db = _CHILD_DATABASES[options.database_url] = Database(options.database_url, pool_size=1)
    try:
        result = validate_and_store(db, raw, user_id, received_at, options)
    except BundleRejectedError as exc:
        return ("rejected", exc.status_code, exc.message, exc.field, exc.errors)
    return ("stored", result.submission_id, result.created, result.status)


class Ingestor:
    def __init__(self, db: Database, options: IngestOptions, processes: int) -> None:
        self.db = db
        self.options = options
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def submit(self, raw: bytes, user_id: int, received_at: dt.datetime) -> StoreResult:
        if self.processes == 0:
            return await run_in_threadpool(validate_and_store, self.db, raw, user_id, received_at, self.options)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        outcome = await asyncio.get_running_loop().run_in_executor(self._pool, _in_child, raw, user_id,
                                                                   received_at, self.options)
        if outcome[0] == "rejected":
            _, status_code, message, field, errors = outcome
            raise BundleRejectedError(status_code, message, field, errors)
        _, submission_id, created, status = outcome
        return StoreResult(submission_id, created, status)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
