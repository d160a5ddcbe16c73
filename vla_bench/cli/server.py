"""Leaderboard commands of ``vla-bench``: ``serve``, ``quickstart``, ``submit`` here, and the ``server`` admin
group (:mod:`vla_bench.cli.server_admin`, :mod:`vla_bench.cli.server_verify`).

Imports happen inside the commands so that ``vla-bench --help`` does not load FastAPI, SQLAlchemy or scipy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vla_bench.cli.server_admin import server_app
from vla_bench.cli.server_support import DbOption, load_settings, show_server_log
from vla_bench.spec.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
    app.command("serve")(serve)
    app.command("submit")(submit)
    app.add_typer(server_app, name="server")


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

    show_server_log()
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

    show_server_log()
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
    if outcome.videos:
        typer.echo(f"videos sent: {', '.join(outcome.videos)}", err=True)
    for problem in outcome.video_errors:
        typer.echo(f"video refused: {problem}", err=True)
    if (artifact is not None or endpoint is not None) and outcome.submission_id is not None:
        ok, text = attach_policy(server, token, outcome.submission_id, artifact=artifact, endpoint=endpoint,
                                 api_key=os.environ.get("VLA_BENCH_POLICY_API_KEY") or None)
        if not ok:
            typer.echo(f"policy refused {text}", err=True)
            raise typer.Exit(1)
        typer.echo(f"verification queued: {text}", err=True)
