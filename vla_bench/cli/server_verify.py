"""``vla-bench server verify-worker``, ``requeue-verification`` and ``verify-baselines``: re-running secret samples
of submitted episodes against the submitted policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vla_bench.cli.server_support import DbOption, load_settings, open_database, show_server_log
from vla_bench.spec.errors import UserError


def verify_worker(
    db: DbOption = None,
    once: Annotated[bool, typer.Option("--once", help="stop when the queue is empty")] = False,
    lease_s: Annotated[float | None, typer.Option(help="seconds a claimed job is held without a heartbeat "
                                                       "[default: VLA_BENCH_VERIFY_LEASE_S, 300]")] = None,
    poll_s: Annotated[float, typer.Option(help="seconds between looks at an empty queue")] = 2.0,
    workers: Annotated[int, typer.Option(help="env worker processes per job")] = 1,
    max_jobs: Annotated[int | None, typer.Option(help="stop after this many jobs")] = None,
) -> None:
    """Verify submissions: claim queued jobs, re-run their secret sample of episodes against the submitted
    policy with the harness, and record verified / verification_failed / inconclusive with the evidence.
    Run as many as you like, on any machines that reach the database and the artifacts directory."""
    import logging  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from vla_bench.server.verification.worker import WorkerOptions, run_worker  # noqa: PLC0415

    show_server_log()
    logging.getLogger("vla_bench.server.verification").setLevel(logging.INFO)
    settings = load_settings(db)
    open_database(db).dispose()  # at the code's schema (migrated), as `serve` would
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    options = WorkerOptions(lease_s=lease_s or settings.verify_lease_s, poll_s=poll_s, once=once, max_jobs=max_jobs,
                            workers=workers, alpha=settings.verify_alpha)
    try:
        done = run_worker(settings, options, stop)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(f"verify-worker: {done} job(s) done", err=True)


def requeue_verification(submission_id: int, db: DbOption = None) -> None:
    """Verify a submission again (a fresh secret sample, the policy it was given)."""
    from vla_bench.server.verification.artifacts import ArtifactRejectedError  # noqa: PLC0415
    from vla_bench.server.verification.service import requeue  # noqa: PLC0415

    settings = load_settings(db)
    database = open_database(db)
    try:
        queued = requeue(database, settings, submission_id, actor="cli")
    except ArtifactRejectedError as exc:
        raise UserError(exc.message) from None
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id}: verification attempt {queued.attempt} queued ({queued.n_episodes} "
               "episodes)")


def verify_baselines(
    agents_dir: Annotated[Path | None, typer.Option(help="committed ONNX exports, one directory per baseline "
                                                          "[default: RESULTS_DIR/agents]")] = None,
    db: DbOption = None,
) -> None:
    """Queue the verification of the reference baselines from their committed ONNX models (a verify-worker
    then re-runs them like any submission)."""
    from vla_bench.server.verification.service import queue_baselines  # noqa: PLC0415

    settings = load_settings(db)
    root = agents_dir or (settings.results_dir / "agents" if settings.results_dir else None)
    if root is None or not root.is_dir():
        raise UserError(f"no agents directory {root}: pass --agents-dir")
    database = open_database(db)
    try:
        for submission_id, what in queue_baselines(database, settings, root):
            typer.echo(f"submission {submission_id}: {what}")
    finally:
        database.dispose()


def add_commands(group: typer.Typer) -> None:
    """Put these commands into the ``server`` group."""
    group.command("verify-worker")(verify_worker)
    group.command("requeue-verification")(requeue_verification)
    group.command("verify-baselines")(verify_baselines)
