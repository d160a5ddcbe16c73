"""Leaderboard commands of ``vla-bench``: ``serve``, ``submit`` and the ``server`` admin group.

Imports happen inside the commands so that ``vla-bench --help`` does not load FastAPI, SQLAlchemy or scipy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vla_bench.spec.errors import UserError

if TYPE_CHECKING:
    from vla_bench.server.core.config import Settings
    from vla_bench.server.core.db import Database

DbOption = Annotated[str | None, typer.Option("--db", help="database URL [default: VLA_BENCH_DATABASE_URL, else a "
                                                            "SQLite file in the user data directory]")]
server_app = typer.Typer(no_args_is_help=True, help="Administer a leaderboard database: users, tokens, "
                                                    "migrations, moderation.")


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
    app.command("serve")(serve)
    app.command("submit")(submit)
    app.add_typer(server_app, name="server")


def load_settings(db: str | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with command-line values on top; invalid ones as a user error."""
    from pydantic import ValidationError  # noqa: PLC0415

    from vla_bench.server.core.config import Settings  # noqa: PLC0415

    values = {k: v for k, v in overrides.items() if v is not None}
    if db:
        values["database_url"] = db
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise UserError(f"invalid server settings: {problems}") from None


def _show_server_log() -> None:
    """Start-up news (migrations applied, reference baselines loaded or refused) on stderr."""
    import logging  # noqa: PLC0415

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("vla_bench.server")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def serve(
    *,
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0 for every interface)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    db: DbOption = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="do not upgrade the database at start; refuse "
                                                                  "one that is out of date")] = False,
    results_dir: Annotated[Path | None, typer.Option(help="bundles loaded as reference baselines into a new "
                                                          "database [default: the repository's results/]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="uvicorn worker processes "
                                                                    "[default: VLA_BENCH_WORKERS, else 1]")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=256, help="requests served at once per worker; the "
                                                "database pool is derived from it [default: 16]")] = None,
    ingest_processes: Annotated[int, typer.Option(min=0, max=16, help="child processes per worker that validate "
                                                  "submissions (0: in the worker, whose readers then wait)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the leaderboard server (API under /api/v1, web pages under /)."""
    import uvicorn  # noqa: PLC0415

    from vla_bench.server import serving  # noqa: PLC0415
    from vla_bench.server.main import create_app, prepare_database  # noqa: PLC0415

    _show_server_log()
    settings = load_settings(db, results_dir=results_dir, migrate_on_start=False if no_migrate else None,
                             workers=workers, threads=threads, ingest_processes=ingest_processes)
    serving.check_exposure(settings, host)
    if settings.public_url is None:
        settings = settings.model_copy(update={"public_url": serving.own_public_url(host, port)})
        if not serving.is_loopback(host):
            typer.echo(f"warning: VLA_BENCH_PUBLIC_URL is unset; links will point at {settings.base_url}", err=True)
    typer.echo(f"vla-bench leaderboard on {settings.base_url}/ ({settings.workers} worker(s) x {settings.threads} "
               f"threads, {settings.pool_size} database connections each); Ctrl-C stops it", err=True)
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, proxy_headers=True)
        return
    prepare_database(settings).dispose()  # migrate and load baselines once, before the workers start
    serving.export(serving.worker_environment(settings))
    uvicorn.run(serving.FACTORY, factory=True, workers=settings.workers, host=host, port=port,
                log_level=log_level, proxy_headers=True)


def quickstart(
    *,
    agent: Annotated[str, typer.Option(help="the agent to evaluate")] = "baseline:zero",
    protocol: Annotated[str, typer.Option(help="the protocol to run it under")] = "mujoco/hopper@v1",
    port: Annotated[int, typer.Option(help="TCP port of the leaderboard")] = 8000,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(help="bundle directory [default: in the user data directory]")] = None,
    exit_after: Annotated[bool, typer.Option("--exit", help="stop the server once the submission is on the "
                                                             "board (for scripts and CI)")] = False,
) -> None:
    """The whole loop: evaluate an agent, start the leaderboard (SQLite), submit the bundle, print its URL."""
    import platformdirs  # noqa: PLC0415

    from vla_bench.server.core.config import APP_NAME  # noqa: PLC0415
    from vla_bench.server.quickstart import quickstart as run_quickstart  # noqa: PLC0415

    _show_server_log()
    settings = load_settings(db)
    directory = out or (Path(platformdirs.user_data_dir(APP_NAME)) / "quickstart"
                        / f"{protocol.replace('/', '--')}--{agent.replace(':', '-').replace('/', '-')}")
    if not run_quickstart(agent=agent, protocol=protocol, out=directory, settings=settings, host=host, port=port,
                          stop_after=exit_after):
        raise typer.Exit(1)


def submit(
    bundle_dir: Annotated[Path, typer.Argument(help="a results bundle directory (summary.json + episodes.jsonl)")],
    server: Annotated[str, typer.Option(help="leaderboard URL, e.g. http://localhost:8000")],
    token: Annotated[str | None, typer.Option(help="API token [default: VLA_BENCH_TOKEN]")] = None,
    artifact: Annotated[Path | None, typer.Option(help="the ONNX model (or `vla-bench train` export directory) "
                                                       "that produced the bundle, for verification")] = None,
    endpoint: Annotated[str | None, typer.Option(help="or a ws:// policy server the verifier calls (API key from "
                                                      "VLA_BENCH_POLICY_API_KEY)")] = None,
) -> None:
    """Submit a results bundle; prints the submission's URL, or the server's reason for refusing it. With
    --artifact or --endpoint the server then re-runs a secret sample of its episodes to verify it."""
    from vla_bench.server.client import attach_policy, submit_bundle  # noqa: PLC0415

    if artifact is not None and endpoint is not None:
        raise UserError("give --artifact or --endpoint, not both")

    token = token or os.environ.get("VLA_BENCH_TOKEN")
    if not token:
        raise UserError("no API token: pass --token or set VLA_BENCH_TOKEN (an admin creates one with "
                        "`vla-bench server create-token USER`)")
    outcome = submit_bundle(bundle_dir, server, token)
    if not outcome.accepted:
        typer.echo(f"refused ({outcome.status_code}): {outcome.message}", err=True)
        raise typer.Exit(1)
    if outcome.duplicate:
        typer.echo("already submitted (same agent, protocol and episodes); the existing submission:", err=True)
    typer.echo(outcome.url)
    if (artifact is not None or endpoint is not None) and outcome.submission_id is not None:
        ok, text = attach_policy(server, token, outcome.submission_id, artifact=artifact, endpoint=endpoint,
                                 api_key=os.environ.get("VLA_BENCH_POLICY_API_KEY") or None)
        if not ok:
            typer.echo(f"policy refused {text}", err=True)
            raise typer.Exit(1)
        typer.echo(f"verification queued: {text}", err=True)


# --- server admin group -------------------------------------------------------------------------------------
def _open(db: str | None, *, migrate: bool = True) -> Database:
    """The database at the code's schema (migrated, as `serve` would, unless ``migrate`` is off)."""
    from vla_bench.server.core.db import Database  # noqa: PLC0415
    from vla_bench.server.core.migrate import ensure_schema  # noqa: PLC0415

    settings = load_settings(db)
    database = Database(settings.database_url)
    try:
        ensure_schema(database.engine, settings.database_url, migrate=migrate)
    except BaseException:
        database.dispose()
        raise
    return database


@server_app.command("migrate")
def migrate(db: DbOption = None) -> None:
    """Upgrade the database to this vla-bench's schema (what `serve` does at start unless --no-migrate)."""
    from vla_bench.server.core.migrate import schema_status  # noqa: PLC0415

    database = _open(db, migrate=True)
    try:
        status = schema_status(database.engine)
        typer.echo(f"database at migration {status.current} (head {status.head})")
    finally:
        database.dispose()


@server_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="user name shown on the leaderboard")],
    admin: Annotated[bool, typer.Option("--admin", help="may hide, reject and delete submissions")] = False,
    db: DbOption = None,
) -> None:
    """Create a user (a submitter, or an admin with --admin)."""
    from vla_bench.server import crud  # noqa: PLC0415

    database = _open(db)
    try:
        with database.write() as session:
            user = crud.create_user(session=session, name=name, role="admin" if admin else "submitter")
            typer.echo(f"created {user.role} {user.name!r}; give them a token with "
                       f"`vla-bench server create-token {user.name}`")
    finally:
        database.dispose()


@server_app.command("create-token")
def create_token(
    name: Annotated[str, typer.Argument(help="the user the token acts as")],
    label: Annotated[str, typer.Option(help="a note to tell tokens apart")] = "",
    db: DbOption = None,
) -> None:
    """Create an API token and print it. It is shown this once; the database keeps only its hash."""
    from vla_bench.server import crud  # noqa: PLC0415

    settings = load_settings(db)
    database = _open(db)
    try:
        with database.write() as session:
            user = crud.get_user(session=session, name=name)
            if user is None:
                raise UserError(f"no user {name!r}: create it with `vla-bench server create-user {name}`")
            token, plaintext = crud.create_token(session=session, user=user, secret_key=settings.secret_key,
                                                 label=label)
            typer.echo(f"token for {name!r} (prefix {token.prefix}); store it now, it is not shown again:", err=True)
            typer.echo(plaintext)
    finally:
        database.dispose()


@server_app.command("revoke-token")
def revoke_token(
    prefix: Annotated[str, typer.Argument(help="the token's first 12 characters, as printed at creation")],
    db: DbOption = None,
) -> None:
    """Revoke API tokens by their prefix."""
    from vla_bench.server import crud  # noqa: PLC0415

    database = _open(db)
    try:
        with database.write() as session:
            count = crud.revoke_tokens(session=session, prefix=prefix)
        if not count:
            raise UserError(f"no active token starts with {prefix!r}")
        typer.echo(f"revoked {count} token(s)")
    finally:
        database.dispose()


@server_app.command("load-baselines")
def load_baselines(
    directory: Annotated[Path | None, typer.Argument(help="a bundle directory or a folder of them "
                                                          "[default: the repository's results/]")] = None,
    db: DbOption = None,
) -> None:
    """Load results bundles as reference baselines (already loaded ones are skipped)."""
    from vla_bench.server.services.baselines import load_baselines as load  # noqa: PLC0415

    settings = load_settings(db)
    root = directory or settings.results_dir
    if root is None:
        raise UserError("no results directory: pass one (this installation has no repository results/)")
    database = _open(db)
    try:
        outcomes = load(database, root, rel_tol=settings.score_rel_tol)
    finally:
        database.dispose()
    for outcome in outcomes:
        state = (f"refused: {outcome.error}" if outcome.error else
                 f"{'loaded' if outcome.created else 'already there'} as submission {outcome.submission_id}")
        typer.echo(f"{outcome.directory}: {state}")
    if not outcomes:
        typer.echo(f"no bundles under {root}")
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def _moderate(submission_id: int, action: str, db: str | None, reason: str | None = None) -> None:
    from vla_bench.server.services import moderation  # noqa: PLC0415

    database = _open(db)
    try:
        moderation.apply(database, submission_id, action, actor="cli", reason=reason)  # type: ignore[arg-type]
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id}: {action} done")


@server_app.command("hide")
def hide(submission_id: int, db: DbOption = None) -> None:
    """Hide a submission from leaderboards and pages (it stays in the database)."""
    _moderate(submission_id, "hide", db)


@server_app.command("unhide")
def unhide(submission_id: int, db: DbOption = None) -> None:
    """Show a hidden submission again."""
    _moderate(submission_id, "unhide", db)


@server_app.command("publish")
def publish(submission_id: int, db: DbOption = None) -> None:
    """Publish a validated (or previously rejected) submission."""
    _moderate(submission_id, "publish", db)


@server_app.command("reject")
def reject(submission_id: int, reason: Annotated[str, typer.Option(help="shown on the submission page")],
           db: DbOption = None) -> None:
    """Take a submission off the leaderboard as rejected, with a reason."""
    _moderate(submission_id, "reject", db, reason)


@server_app.command("verify")
def verify(submission_id: int, db: DbOption = None) -> None:
    """Give a submission the verified badge (checked by the maintainers)."""
    _moderate(submission_id, "verify", db)


@server_app.command("delete")
def delete(submission_id: int, db: DbOption = None,
           yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False) -> None:
    """Delete a submission and its stored bundle for good."""
    from vla_bench.server.services import moderation  # noqa: PLC0415

    if not yes:
        typer.confirm(f"delete submission {submission_id} and its bundle?", abort=True)
    database = _open(db)
    try:
        moderation.delete(database, submission_id)
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id} deleted")


@server_app.command("verify-worker")
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

    _show_server_log()
    logging.getLogger("vla_bench.server.verification").setLevel(logging.INFO)
    settings = load_settings(db)
    _open(db).dispose()  # at the code's schema (migrated), as `serve` would
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    options = WorkerOptions(lease_s=lease_s or settings.verify_lease_s, poll_s=poll_s, once=once, max_jobs=max_jobs,
                            workers=workers, alpha=settings.verify_alpha)
    try:
        done = run_worker(settings, options, stop)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(f"verify-worker: {done} job(s) done", err=True)


@server_app.command("requeue-verification")
def requeue_verification(submission_id: int, db: DbOption = None) -> None:
    """Verify a submission again (a fresh secret sample, the policy it was given)."""
    from vla_bench.server.verification.artifacts import ArtifactRejectedError  # noqa: PLC0415
    from vla_bench.server.verification.service import requeue  # noqa: PLC0415

    settings = load_settings(db)
    database = _open(db)
    try:
        queued = requeue(database, settings, submission_id, actor="cli")
    except ArtifactRejectedError as exc:
        raise UserError(exc.message) from None
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id}: verification attempt {queued.attempt} queued ({queued.n_episodes} "
               "episodes)")


@server_app.command("verify-baselines")
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
    database = _open(db)
    try:
        for submission_id, what in queue_baselines(database, settings, root):
            typer.echo(f"submission {submission_id}: {what}")
    finally:
        database.dispose()
