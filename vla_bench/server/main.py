"""The application factory: ``create_app(settings)`` prepares the database (migrations, reference baselines)
and wires the API, the pages and the static files."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from vla_bench.server import pages
from vla_bench.server.api.contract import AllowedMethods, install_openapi, validation_error_body
from vla_bench.server.api.main import api_router
from vla_bench.server.core.admission import Admission, Slots, overloaded_response
from vla_bench.server.core.config import Settings, server_version
from vla_bench.server.core.db import Database
from vla_bench.server.core.headers import SecurityHeaders
from vla_bench.server.core.migrate import ensure_schema
from vla_bench.server.core.ratelimit import RateLimiter
from vla_bench.server.core.response_cache import ResponseCache, board_version
from vla_bench.server.services.baselines import load_baselines_on_first_start
from vla_bench.server.services.ingestion import IngestOptions, Ingestor
from vla_bench.server.validation import BundleRejectedError
from vla_bench.web import STATIC_PACKAGE

API_PREFIX = "/api/v1"
log = logging.getLogger("vla_bench.server")


def operation_id(route: APIRoute) -> str:
    """Short OpenAPI operation ids (``submissions-create_submission``) for generated clients."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def prepare_database(settings: Settings) -> Database:
    """Open the database, bring it to the code's schema (or refuse it), load baselines on first start."""
    db = Database(settings.database_url, pool_size=settings.pool_size, pool_timeout_s=settings.db_pool_timeout_s)
    try:
        ensure_schema(db.engine, settings.database_url, migrate=settings.migrate_on_start)
        if settings.load_baselines:
            load_baselines_on_first_start(db, settings.results_dir, rel_tol=settings.score_rel_tol)
    except BaseException:
        db.dispose()
        raise
    return db


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = prepare_database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The worker threads match the admitted requests (+ the submissions being validated), so the pool
        # derived from the same numbers always has a connection for a thread that runs.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads + settings.ingest_slots
        yield
        app.state.ingestor.close()
        db.dispose()

    app = FastAPI(
        title="vla-bench leaderboard", version=server_version(), lifespan=lifespan,
        description="Submit vla-bench results bundles; the server recomputes every score from the episodes.",
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,  # Swagger/ReDoc load from a CDN
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.rate_limiter = RateLimiter(db, settings.submit_rate_limit, settings.submit_rate_window_s)
    app.state.ingestor = Ingestor(db, IngestOptions(settings.database_url, settings.score_rel_tol,
                                                    settings.auto_publish), settings.ingest_processes)
    app.state.ingest_slots = Slots(settings.ingest_slots, max_queue=settings.max_queue,
                                   timeout_s=settings.queue_timeout_s)
    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[STATIC_PACKAGE]), name="static")
    app.state.admission = Slots(settings.threads, max_queue=settings.max_queue, timeout_s=settings.queue_timeout_s)
    app.add_middleware(ResponseCache, version=functools.partial(board_version, db))
    app.add_middleware(Admission, slots=app.state.admission, retry_after_s=settings.retry_after_s,
                       exempt=_not_admitted)
    app.add_middleware(AllowedMethods, routes_of=app)
    app.add_middleware(SecurityHeaders)
    install_openapi(app, f"{API_PREFIX}/submissions")
    _add_error_handlers(app, settings)
    return app


def _not_admitted(scope: Scope) -> bool:
    """Static files need no thread or connection; a submission upload waits for an ingestion slot instead."""
    path: str = scope["path"]
    method: str = scope["method"]
    return path.startswith("/static/") or (method == "POST" and path == f"{API_PREFIX}/submissions")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _add_error_handlers(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(BundleRejectedError)
    async def _rejected(_request: Request, exc: BundleRejectedError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status_code)

    @app.exception_handler(PoolTimeoutError)
    async def _pool_timeout(request: Request, _exc: PoolTimeoutError) -> Response:
        # The admission gate should make this unreachable; if the pool still runs dry, answer like the gate.
        log.warning("database pool exhausted: answering 503")
        status_code, headers, body = overloaded_response(settings.retry_after_s, _is_api(request))
        return Response(body, status_code=status_code,
                        headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, _exc: Exception) -> Response:
        # Parameters are bounded where they are declared; this catches any a route forgot (SQLite raises
        # OverflowError for integers past 64 bits, PostgreSQL a DataError).
        message = "a value in the request is out of the database's range"
        if _is_api(request):
            return JSONResponse({"detail": message, "field": None, "errors": []}, status_code=422)
        return pages.page("error.html", status_code=422, code=422, message=message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return await http_exception_handler(request, exc)
        return pages.page("error.html", status_code=exc.status_code, code=exc.status_code, message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse(validation_error_body(exc), status_code=422)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return pages.page("error.html", status_code=422, code=422, message=f"bad address: {problems}")
