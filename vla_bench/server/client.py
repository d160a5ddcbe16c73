"""The submitting side of the API: send a bundle directory to a leaderboard server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.spec.errors import UserError

SUBMIT_PATH = "/api/v1/submissions"


@dataclass(frozen=True)
class SubmitOutcome:
    accepted: bool
    status_code: int
    url: str | None  # the submission's page when accepted
    duplicate: bool
    message: str  # the server's reason when refused


def submit_bundle(directory: Path, server: str, token: str, *, timeout_s: float = 120.0) -> SubmitOutcome:
    body = json.dumps(read_bundle_document(directory), allow_nan=False).encode("utf-8")
    url = server.rstrip("/") + SUBMIT_PATH
    try:
        response = httpx.post(url, content=body, timeout=timeout_s,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach the leaderboard at {server}: {exc}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = {"detail": response.text[:500] or response.reason_phrase}
    if response.status_code in (200, 201):
        return SubmitOutcome(True, response.status_code, payload.get("url"), bool(payload.get("duplicate")), "")
    message = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        message = json.dumps(message if message is not None else payload)
    if response.status_code == 429 and "retry-after" in response.headers:
        message += f" (Retry-After: {response.headers['retry-after']} s)"
    return SubmitOutcome(False, response.status_code, None, False, message)
