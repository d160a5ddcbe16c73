"""The API's contract as clients see it: one error shape for every 4xx/5xx answer (422 included), an OpenAPI
document that declares every status the server sends, the submission body's real JSON Schemas, and
``OPTIONS``/405 answers whose ``Allow`` lists every method of the path.

FastAPI's defaults disagree with the server on each point: its 422 body is a list while the routes declare
``{"detail": string}``, its document omits the 401 of optional tokens and the 503 of the admission gate, and
Starlette answers ``OPTIONS`` with the methods of the first route that matches the path only.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vla_bench.server.bundle_limits import MAX_INT, STRING_LIMITS
from vla_bench.server.training_log import MAX_COLUMNS, MAX_ROWS
from vla_bench.server.validation import RefusalJson
from vla_bench.spec.schemas import load_schema

ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
_STATUS_TEXT = {400: "the body is not valid JSON",
                401: "no, invalid or revoked API token", 422: "a parameter or the body fails validation",
                503: "the server is busy; retry after the Retry-After header's seconds"}


def validation_error_body(exc: RequestValidationError) -> RefusalJson:
    """FastAPI's validation errors in the ErrorPublic shape: the first problem as ``detail``, all of them as
    strings in ``errors`` and the first one's location as ``field``."""
    problems = [f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()]
    first = exc.errors()[0] if exc.errors() else {"loc": ()}
    return {"detail": problems[0] if problems else "invalid request",
            "field": ".".join(str(p) for p in first["loc"]) or None, "errors": problems}


def bundle_body_schemas() -> dict[str, object]:
    """components/schemas entries of the POST body: the bundle's own JSON Schemas, with their ``$defs`` lifted
    into components (OpenAPI resolves references from the document root) and the server's length limits, and
    the optional training log."""
    summary = copy.deepcopy(load_schema("summary"))
    episode = copy.deepcopy(load_schema("episode"))
    components: dict[str, object] = {}
    for name, definition in summary.pop("$defs", {}).items():
        components[f"BundleSummary_{name}"] = definition
    _retarget(summary)
    _retarget(components)
    for field in ("name", "kind", "spec"):
        summary["properties"]["agent"]["properties"][field]["maxLength"] = STRING_LIMITS[f"$.summary.agent.{field}"]
    for field in ("created_at", "finished_at"):
        summary["properties"][field]["maxLength"] = STRING_LIMITS[f"$.summary.{field}"]
    for field in ("episode_index", "seed", "init_index", "length", "success_step", "clipped_steps"):
        if field in episode["properties"]:
            episode["properties"][field]["maximum"] = MAX_INT
    for schema in (summary, episode):
        schema.pop("$schema", None)
        schema.pop("$id", None)
    components["BundleSummary"] = summary
    components["BundleEpisode"] = episode
    components["SubmissionBody"] = {
        "type": "object", "additionalProperties": False, "required": ["summary", "episodes"],
        "description": "summary.json and the lines of episodes.jsonl of a results bundle",
        "properties": {"summary": {"$ref": "#/components/schemas/BundleSummary"},
                       "episodes": {"type": "array", "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/BundleEpisode"}},
                       "training_log": {"$ref": "#/components/schemas/TrainingLogBody"}},
    }
    components["TrainingLogBody"] = {
        "type": "object", "additionalProperties": False, "required": ["csv"],
        "description": "optional: the trainer's log as CSV text (a 'step' column first, then numeric measures; "
                       f"at most {MAX_ROWS} rows and {MAX_COLUMNS} columns; empty cells where nothing was logged; "
                       "NaN and infinities refused), drawn as curves on the submission's page",
        "properties": {"csv": {"type": "string", "maxLength": STRING_LIMITS["$.training_log.csv"]}},
    }
    return components


def _retarget(node: object) -> None:
    """``#/$defs/X`` -> ``#/components/schemas/BundleSummary_X``, everywhere in ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/BundleSummary_" + ref.removeprefix("#/$defs/")
        for value in node.values():
            _retarget(value)
    elif isinstance(node, list):
        for value in node:
            _retarget(value)


def install_openapi(app: FastAPI, submit_path: str) -> None:
    """Replace ``app.openapi`` with a generator that states what the server actually sends."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(bundle_body_schemas())
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                _declare_errors(operation)
                if path == submit_path and method == "post":
                    operation["requestBody"] = {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SubmissionBody"}}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    needed = [422, 503] + ([401] if operation.get("security") else []) + ([400] if "requestBody" in operation else [])
    for code in needed:
        entry = responses.setdefault(str(code), {"description": _STATUS_TEXT[code]})
        entry["content"] = {"application/json": {"schema": ERROR_REF}}
        if code == 503:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}


class AllowedMethods:
    """``OPTIONS`` answers 204 with every method routed at the path; a 405's ``Allow`` gets the same list."""

    def __init__(self, app: ASGIApp, routes_of: FastAPI) -> None:
        self.app = app
        self._routes_app = routes_of
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def _routes(self) -> list[tuple[re.Pattern[str], frozenset[str]]]:
        """(path regex, methods) of every route, built on first use (routers are included by then)."""
        if self._table is None:
            self._table = [(compile_path(context.path)[0], frozenset(context.methods))
                           for context in iter_route_contexts(self._routes_app.routes)
                           if context.path and context.methods]
        return self._table

    def allowed(self, scope: Scope) -> list[str]:
        methods: set[str] = set()
        for pattern, route_methods in self._routes():
            if pattern.match(scope["path"]):
                methods |= route_methods
        if methods:
            methods |= {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
        return sorted(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = self.allowed(scope)
            if methods:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(methods).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return

        async def fix_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", ", ".join(self.allowed(scope)).encode())]
            await send(message)

        await self.app(scope, receive, fix_allow)
