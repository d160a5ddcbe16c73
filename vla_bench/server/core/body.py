"""Reading a request body with a size limit, before any of it is parsed."""

from __future__ import annotations

from fastapi import Request

from vla_bench.server.validation import BundleRejectedError


def _too_large(limit: int, what: str, setting: str) -> BundleRejectedError:
    return BundleRejectedError(413, f"the {what} is larger than this server's limit of {limit} bytes ({setting})")


async def read_limited_body(request: Request, limit: int, *, what: str = "body",
                            setting: str = "VLA_BENCH_MAX_BODY_BYTES") -> bytes:
    """The body, refused with 413 as soon as the declared length or the bytes received pass ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, what, setting)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, what, setting)
        chunks.append(chunk)
    return b"".join(chunks)
