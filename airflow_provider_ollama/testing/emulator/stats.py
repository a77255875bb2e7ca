"""Counters of what the emulator served, so tests can assert on traffic (requests, bytes, pulls).

Thread-safe: the server updates them on its event loop while a test reads them from its own thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


def route_key(method: str, path: str) -> str:
    """``"POST /api/pull"``; blob paths fold into gin's route pattern ``/api/blobs/:digest``."""
    if path.startswith("/api/blobs/"):
        path = "/api/blobs/:digest"
    return f"{method} {path}"


class Stats:
    """Request and transfer counters of one emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._counters: Counter[str] = Counter()
        self._bytes_in = 0
        self._bytes_out = 0

    def record_arrival(self, method: str, path: str) -> None:
        """Count a request when it arrives: a client that has its answer always finds it counted."""
        with self._lock:
            self._requests[route_key(method, path)] += 1

    def record_completion(self, status: int, bytes_in: int, bytes_out: int) -> None:
        """Add a finished request's status and bytes (after its last byte was sent)."""
        with self._lock:
            self._statuses[status] += 1
            self._bytes_in += bytes_in
            self._bytes_out += bytes_out

    def add(self, counter: str, amount: int = 1) -> None:
        """Bump a named counter (``pulls``, ``blobs_downloaded``, ``bytes_downloaded``, ``creates``...)."""
        with self._lock:
            self._counters[counter] += amount

    def requests_to(self, method: str, path: str) -> int:
        """How many requests hit one route, e.g. ``requests_to("POST", "/api/pull")``."""
        with self._lock:
            return self._requests[route_key(method, path)]

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain JSON-ready data (what ``GET /_emulator/stats`` answers)."""
        with self._lock:
            return {
                "requests_total": sum(self._requests.values()),
                "requests": dict(sorted(self._requests.items())),
                "statuses": {str(code): count for code, count in sorted(self._statuses.items())},
                "bytes_in": self._bytes_in,
                "bytes_out": self._bytes_out,
                "counters": dict(sorted(self._counters.items())),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
            self._counters.clear()
            self._bytes_in = 0
            self._bytes_out = 0
