"""Which episode runs next where, and how many environments each worker hosts.

Episodes are spread over the workers: a worker hosts at most its share of the plan (10 episodes on 2
workers: 5 each, not 8 and 2), so no worker idles while another holds a backlog. An episode retried
after a crash runs alone on a worker (``exclusive``), so that a second crash names the culprit.
"""

from __future__ import annotations

import math
import os
from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vla_bench.harness.episode import Episode


class Host(Protocol):
    """What the queue reads of a worker: whether it hosts a retried episode alone, and how many run there."""

    exclusive: bool

    def live(self) -> int: ...


def envs_per_worker(episodes: int, workers: int, requested: int, *, env_memory_gb: float | None = None,
                    available_gb: float | None = None) -> int:
    """The environments each worker hosts: at most ``requested``, at most its share of the episodes, and,
    when an environment's memory cost is known, no more than the machine's free memory holds."""
    share = math.ceil(episodes / max(1, workers)) if episodes else 1
    count = max(1, min(requested, share))
    if env_memory_gb and env_memory_gb > 0:
        free = available_gb if available_gb is not None else available_memory_gb()
        if free is not None:
            count = max(1, min(count, int(free * 0.8 / (env_memory_gb * max(1, workers)))))
    return count


def available_memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024**3
    except (ValueError, OSError, AttributeError):
        return None


class EpisodeQueue:
    """The episodes not started yet, and the ones to retry alone."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.pending: deque[Episode] = deque(episodes)
        self.retries: deque[Episode] = deque()

    def __bool__(self) -> bool:
        return bool(self.pending or self.retries)

    def take(self, worker: Host) -> Episode | None:
        """The next episode for a free slot of ``worker`` (its ``exclusive`` flag and ``live()`` count)."""
        if worker.exclusive:
            return None
        if self.retries:
            # a retried episode runs alone on its worker; others drain until one is empty
            if worker.live() == 0:
                worker.exclusive = True
                return self.retries.popleft()
            return None
        return self.pending.popleft() if self.pending else None

    def retry_alone(self, episode: Episode) -> None:
        self.retries.append(episode)

    def put_back(self, episode: Episode) -> None:
        """An episode interrupted through no fault of its own: it runs again first, normally."""
        self.pending.appendleft(episode)
