"""A small thread-safe LRU bounded by the total weight of its values: the services' per-process caches of
results computed from stored submissions (which never change once stored)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A thread-safe LRU bounded by the total weight of its values."""

    def __init__(self, budget: int) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._budget = budget
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        with self._lock:
            if key in self._items:
                self._used -= self._items.pop(key)[1]
            self._items[key] = (value, weight)
            self._used += weight
            while self._used > self._budget and len(self._items) > 1:
                self._used -= self._items.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0
