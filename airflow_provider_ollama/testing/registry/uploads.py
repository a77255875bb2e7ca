"""Blob uploads of the push side of the registry protocol: sessions, parts, digest verification.

Each upload streams its parts into a file under the emulator's storage directory while hashing, so
a pushed multi-GiB blob never sits in memory and its digest is known when the client commits it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

from airflow_provider_ollama.testing.registry.blobs import FileBlob


class UploadError(Exception):
    """A client mistake in an upload; ``code`` is the registry error code to answer with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class UploadSession:
    """One blob being uploaded in order, part by part."""

    def __init__(self, directory: Path) -> None:
        self.id = uuid.uuid4().hex
        self.path = directory / f"upload-{self.id}"
        self._handle = self.path.open("wb")
        self._hasher = hashlib.sha256()
        self.size = 0

    def check_offset(self, content_range: str | None) -> None:
        """Refuse a part that does not start where the previous one ended (``a-b`` ranges)."""
        if not content_range:
            return
        start_text = content_range.removeprefix("bytes ").split("-", 1)[0].strip()
        if not start_text.isdigit() or int(start_text) != self.size:
            raise UploadError(
                "BLOB_UPLOAD_INVALID",
                f"content range {content_range!r} does not continue the upload at byte {self.size}",
                status=416,
            )

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._hasher.update(data)
        self.size += len(data)

    def commit(self, expected_digest: str, blobs_dir: Path) -> FileBlob:
        """Close the upload and keep it as a blob if its sha256 is ``expected_digest``."""
        self._handle.close()
        actual = "sha256:" + self._hasher.hexdigest()
        if actual != expected_digest:
            self.path.unlink(missing_ok=True)
            raise UploadError("DIGEST_INVALID", "provided digest did not match uploaded content")
        target = blobs_dir / actual.replace(":", "-", 1)
        os.replace(self.path, target)
        return FileBlob(path=target, digest=actual, size=self.size)

    def discard(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)


class Uploads:
    """Open upload sessions by id, with their files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs_dir = directory / "blobs"
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}

    def start(self) -> UploadSession:
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        session = UploadSession(self.directory)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, upload_id: str) -> UploadSession:
        with self._lock:
            session = self._sessions.get(upload_id)
        if session is None:
            raise UploadError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", status=404)
        return session

    def finish(self, upload_id: str) -> None:
        with self._lock:
            self._sessions.pop(upload_id, None)

    def discard_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.discard()
