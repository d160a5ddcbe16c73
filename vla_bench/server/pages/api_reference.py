"""The API reference as a page, built from the app's own OpenAPI document: FastAPI's Swagger UI and ReDoc
load their code from a CDN, which the leaderboard must not depend on, so they are switched off."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from vla_bench.server.pages.common import page

router = APIRouter(include_in_schema=False)
# Docstrings are written in reStructuredText: ``literal``, :role:`target` and `interpreted` become code.
RST_LITERAL = re.compile(r"(?::[\w:-]+:)?``?([^`]+?)``?")


def rst_inline(text: str) -> Markup:
    """Escaped text with RST inline literals and roles shown as ``<code>``, never as backticks."""
    parts, last = [], 0
    for match in RST_LITERAL.finditer(text):
        parts += [str(escape(text[last:match.start()])), f"<code>{escape(match.group(1))}</code>"]
        last = match.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))  # every piece was escaped above


def path_markup(path: str) -> Markup:
    """A path that may break only after a '/', never inside a segment (``/bund le``)."""
    segments = path.split("/")
    joined = "".join(f"{escape(s)}/<wbr>" if s else "/" for s in segments[:-1]) + str(escape(segments[-1]))
    return Markup(joined)  # segments escaped


@router.get("/api", response_class=HTMLResponse)
def api_reference(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            operations.append({
                "method": method.upper(), "path": path, "path_html": path_markup(path),
                "summary": rst_inline(op.get("summary", "")), "description": rst_inline(op.get("description", "")),
                "tags": op.get("tags", []),
                "parameters": [(p["name"], p["in"], p.get("required", False)) for p in op.get("parameters", [])],
                "responses": sorted(op.get("responses", {})),
                "auth": bool(op.get("security")),
            })
    return page("api.html", operations=operations, title=spec["info"]["title"], api_version=spec["info"]["version"])
