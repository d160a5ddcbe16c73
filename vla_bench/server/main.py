"""The application factory: ``create_app(settings)`` prepares the database (migrations, reference baselines)
and wires the API, the pages and the static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vla_bench.server import pages
from vla_bench.server.api.main import api_router
from vla_bench.server.core.config import Settings, server_version
from vla_bench.server.core.db import Database
from vla_bench.server.core.headers import SecurityHeaders
from vla_bench.server.core.migrate import ensure_schema
from vla_bench.server.core.ratelimit import RateLimiter
from vla_bench.server.services.baselines import load_baselines_on_first_start
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
    db = Database(settings.database_url)
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
        yield
        db.dispose()

    app = FastAPI(
        title="vla-bench leaderboard", version=server_version(), lifespan=lifespan,
        description="Submit vla-bench results bundles; the server recomputes every score from the episodes.",
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,  # Swagger/ReDoc load from a CDN
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.rate_limiter = RateLimiter(settings.submit_rate_limit, settings.submit_rate_window_s)
    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[STATIC_PACKAGE]), name="static")
    app.add_middleware(SecurityHeaders)
    _add_error_handlers(app)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BundleRejectedError)
    async def _rejected(_request: Request, exc: BundleRejectedError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return await http_exception_handler(request, exc)
        return pages.page("error.html", status_code=exc.status_code, code=exc.status_code, message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return pages.page("error.html", status_code=422, code=422, message=f"bad address: {problems}")
