"""The sliding-window rate limiter, on a controlled clock."""

from __future__ import annotations

from vla_bench.server.core.ratelimit import RateLimiter


def test_the_window_slides_and_retry_after_is_the_wait() -> None:
    now = [1000.0]
    limiter = RateLimiter(limit=2, window_s=60, clock=lambda: now[0])
    assert limiter.acquire("t") is None
    now[0] += 10
    assert limiter.acquire("t") is None
    assert limiter.acquire("t") == 50  # the first hit leaves the window 50 s from now
    assert limiter.acquire("other") is None  # per key
    now[0] += 50.5
    assert limiter.acquire("t") is None  # the first hit left the window
    assert limiter.acquire("t") is not None
