"""Request and byte counters of the registry emulator, readable from tests while it serves.

They let a test prove what a pull did: e.g. that a restore from the S3 cache downloaded zero blob
bytes from the registry, or that a resumed pull fetched only the missing range.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Request kinds, one per endpoint family of the registry protocol.
REQUEST_KINDS = ("manifest", "manifest_put", "blob_head", "blob_get", "cdn_get", "upload")


@dataclass(frozen=True)
class StatsSnapshot:
    """The counters at one moment (bytes are counted as they are handed to the connection)."""

    #: Requests by kind (see :data:`REQUEST_KINDS`), faulted ones included.
    requests: Mapping[str, int]
    #: Body bytes sent, by kind (``manifest``, ``cdn_get``).
    bytes_served: Mapping[str, int]
    #: Requests naming a blob (HEAD, redirecting GET and CDN GET alike), by digest.
    blob_requests_by_digest: Mapping[str, int]
    #: Blob bytes sent from the CDN path, by digest.
    blob_bytes_by_digest: Mapping[str, int]
    #: Bytes pushed in uploads.
    bytes_received: int
    #: How often each fault type struck.
    faults_applied: Mapping[str, int]

    @property
    def blob_bytes_served(self) -> int:
        """Blob bytes sent to clients (the CDN path; the registry path only redirects)."""
        return self.bytes_served.get("cdn_get", 0)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "bytes_served": dict(self.bytes_served),
            "blob_bytes_served": self.blob_bytes_served,
            "blob_requests_by_digest": dict(self.blob_requests_by_digest),
            "blob_bytes_by_digest": dict(self.blob_bytes_by_digest),
            "bytes_received": self.bytes_received,
            "faults_applied": dict(self.faults_applied),
        }


class RegistryStats:
    """Thread-safe counters: the server thread writes, tests read :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter(dict.fromkeys(REQUEST_KINDS, 0))
            self._bytes: Counter[str] = Counter()
            self._blob_requests: Counter[str] = Counter()
            self._blob_bytes: Counter[str] = Counter()
            self._received = 0
            self._faults: Counter[str] = Counter()

    def count_request(self, kind: str, digest: str | None = None) -> None:
        with self._lock:
            self._requests[kind] += 1
            if digest is not None:
                self._blob_requests[digest] += 1

    def count_sent(self, kind: str, size: int, digest: str | None = None) -> None:
        with self._lock:
            self._bytes[kind] += size
            if digest is not None:
                self._blob_bytes[digest] += size

    def count_received(self, size: int) -> None:
        with self._lock:
            self._received += size

    def count_fault(self, fault_type: str) -> None:
        with self._lock:
            self._faults[fault_type] += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                requests=dict(self._requests),
                bytes_served=dict(self._bytes),
                blob_requests_by_digest=dict(self._blob_requests),
                blob_bytes_by_digest=dict(self._blob_bytes),
                bytes_received=self._received,
                faults_applied=dict(self._faults),
            )
