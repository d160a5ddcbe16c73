"""How ``vla-bench serve`` runs the app: exposure checks, the public URL, and several uvicorn workers.

With ``--workers N`` uvicorn starts N processes that each build the app from the environment
(:func:`app_from_environment`); the parent migrates the database and loads the baselines once beforehand, so
the workers never race to migrate.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from fastapi import FastAPI

from vla_bench.server.core.config import DEFAULT_SECRET, Settings
from vla_bench.spec.errors import UserError

FACTORY = "vla_bench.server.serving:app_from_environment"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str) -> None:
    """Refuse the well-known default secret on an interface other machines can reach: anyone who reads the
    source could compute the token hashes of a copied database."""
    if settings.secret_key == DEFAULT_SECRET and not is_loopback(host):
        raise UserError(
            f"refusing to listen on {host!r} with the default secret {DEFAULT_SECRET!r}: development mode is for "
            "this machine only. Either listen on 127.0.0.1, or set VLA_BENCH_SECRET_KEY to a random secret "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) and VLA_BENCH_ENVIRONMENT=production"
        )


def own_public_url(host: str, port: int) -> str:
    """The address links point at when VLA_BENCH_PUBLIC_URL is unset: this listener's own."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    shown = "localhost" if is_loopback(host) else host
    if ":" in shown:  # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def worker_environment(settings: Settings) -> dict[str, str]:
    """The settings the workers read (``VLA_BENCH_*``): what the command line changed, and no second migration."""
    values = {
        "DATABASE_URL": settings.database_url, "PUBLIC_URL": settings.base_url,
        "RESULTS_DIR": str(settings.results_dir or ""), "LOAD_BASELINES": "false", "MIGRATE_ON_START": "false",
        "THREADS": str(settings.threads), "WORKERS": str(settings.workers),
        "INGEST_PROCESSES": str(settings.ingest_processes),
    }
    if settings.results_dir is None:
        del values["RESULTS_DIR"]
    return {f"VLA_BENCH_{key}": value for key, value in values.items()}


def app_from_environment() -> FastAPI:
    """The app of one worker process (uvicorn's ``factory=True`` entry point)."""
    from vla_bench.server.main import create_app  # noqa: PLC0415

    return create_app(Settings())


def export(environment: dict[str, str]) -> None:
    os.environ.update(environment)
