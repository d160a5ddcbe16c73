"""The API reference as a page, built from the app's own OpenAPI document: FastAPI's Swagger UI and ReDoc
load their code from a CDN, which the leaderboard must not depend on, so they are switched off."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vla_bench.server.pages.common import page

router = APIRouter(include_in_schema=False)


@router.get("/api", response_class=HTMLResponse)
def api_reference(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tags": op.get("tags", []),
                "parameters": [(p["name"], p["in"], p.get("required", False)) for p in op.get("parameters", [])],
                "responses": sorted(op.get("responses", {})),
                "auth": bool(op.get("security")),
            })
    return page("api.html", operations=operations, title=spec["info"]["title"], api_version=spec["info"]["version"])
