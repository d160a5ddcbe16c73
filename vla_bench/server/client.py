"""The submitting side of the API: send a bundle directory (with its agent's training log and its episode
videos) to a leaderboard server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.server.videos import MAX_VIDEOS
from vla_bench.spec.errors import UserError

SUBMIT_PATH = "/api/v1/submissions"
VIDEOS_DIR = "videos"  # where `vla-bench eval --record` puts them in the bundle (records name videos/TASK-NNNN.mp4)


@dataclass(frozen=True)
class SubmitOutcome:
    accepted: bool
    status_code: int
    url: str | None  # the submission's page when accepted
    duplicate: bool
    message: str  # the server's reason when refused
    submission_id: int | None = None
    videos: tuple[str, ...] = ()  # episode videos of the bundle's videos/ the server took
    video_errors: tuple[str, ...] = ()  # "name: reason" of those it refused


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
        submission_id = payload.get("id")
        sent, refused = (upload_videos(directory, server, token, submission_id, timeout_s=timeout_s)
                         if isinstance(submission_id, int) else ((), ()))
        return SubmitOutcome(True, response.status_code, payload.get("url"), bool(payload.get("duplicate")), "",
                             submission_id, sent, refused)
    message = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        message = json.dumps(message if message is not None else payload)
    if response.status_code == 429 and "retry-after" in response.headers:
        message += f" (Retry-After: {response.headers['retry-after']} s)"
    return SubmitOutcome(False, response.status_code, None, False, message)


def bundle_videos(directory: Path) -> list[Path]:
    """The episode videos `vla-bench eval --record` wrote into the bundle (``videos/*.mp4``), the first
    ``MAX_VIDEOS`` by name (the most the server keeps per submission)."""
    return sorted((directory / VIDEOS_DIR).glob("*.mp4"))[:MAX_VIDEOS]


def upload_videos(directory: Path, server: str, token: str, submission_id: int, *,
                  timeout_s: float = 120.0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Send the bundle's videos to its submission: (names taken, "name: reason" of those refused)."""
    sent: list[str] = []
    refused: list[str] = []
    base = f"{server.rstrip('/')}{SUBMIT_PATH}/{submission_id}/videos/"
    for path in bundle_videos(directory):
        try:
            response = httpx.put(base + quote(path.name, safe=""), content=path.read_bytes(), timeout=timeout_s,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"})
        except (httpx.HTTPError, OSError) as exc:
            refused.append(f"{path.name}: {exc}")
            continue
        accepted, reason = _answer(response)
        (sent if accepted else refused).append(path.name if accepted else f"{path.name}: {reason}")
    return tuple(sent), tuple(refused)


def artifact_file(path: Path) -> Path:
    """The ONNX file to upload: ``path`` itself, or the model of a `vla-bench train` export directory."""
    if path.is_dir():
        manifest = path / "manifest.json"
        name = "model.onnx"
        if manifest.is_file():
            try:
                name = json.loads(manifest.read_text(encoding="utf-8")).get("model", {}).get("file", name)
            except (ValueError, AttributeError):
                raise UserError(f"{manifest} is not valid JSON") from None
        path = path / Path(name).name
    if not path.is_file():
        raise UserError(f"artifact {path} does not exist (give an .onnx file or a `vla-bench train` export directory)")
    return path


def _answer(response: httpx.Response) -> tuple[bool, str]:
    try:
        payload = response.json()
    except ValueError:
        payload = {"detail": response.text[:500] or response.reason_phrase}
    if response.status_code in (200, 201, 202):
        return True, str(payload.get("guarantee", ""))
    detail = payload.get("detail") if isinstance(payload, dict) else payload
    return False, f"({response.status_code}) {detail if isinstance(detail, str) else json.dumps(detail)}"


def attach_policy(server: str, token: str, submission_id: int, *, artifact: Path | None = None,
                  endpoint: str | None = None, api_key: str | None = None,
                  timeout_s: float = 300.0) -> tuple[bool, str]:
    """Give a submission its policy for verification: (accepted, the guarantee or the server's reason)."""
    base = f"{server.rstrip('/')}{SUBMIT_PATH}/{submission_id}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if artifact is not None:
            data = artifact_file(artifact).read_bytes()
            response = httpx.put(f"{base}/artifact", content=data, timeout=timeout_s,
                                 headers={**headers, "Content-Type": "application/octet-stream"})
        else:
            response = httpx.put(f"{base}/endpoint", json={"url": endpoint, "api_key": api_key}, timeout=timeout_s,
                                 headers=headers)
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach the leaderboard at {server}: {exc}") from None
    return _answer(response)
