"""What every page shares: rendering with the site's context, 404 for unknown protocols, axis ticks."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import HTMLResponse

from vla_bench import protocols
from vla_bench.server.core.config import server_version
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UnknownNameError
from vla_bench.web.render import render


@functools.cache
def _version() -> str:
    return server_version()


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, version=_version(), **context), status_code=status_code)


def protocol_or_404(protocol_id: str) -> Protocol:
    try:
        return protocols.get_protocol(protocol_id, allow_deprecated=True)
    except UnknownNameError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def tick_format(metric: str) -> str:
    return "{:.0%}" if metric == "success_rate" else "{:g}"
