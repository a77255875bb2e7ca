"""Blob bytes in transit, checked against their manifest entry: the size as they pass, the sha256 at the end.

The cache streams blobs from a registry into S3 and from S3 into an Ollama server without a file in
between. Whoever consumes the stream commits when it ends, so the last bytes are released only once
size and digest matched: a corrupt or truncated blob makes the stream raise instead of ending.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError
from airflow_provider_ollama.store import Descriptor


class VerifiedStream:
    """Chunks of one blob from ``chunks``, passed on as an iterator or through ``read(n)``.

    :param chunks: the blob's bytes as they arrive.
    :param blob: the manifest entry they must match (digest and size).
    :param source: where the bytes come from, for messages (``s3://bucket/key``, a registry URL).
    :param on_mismatch: called before the error is raised (the cache marks the digest suspect).
    :param progress: called with the size of each chunk passed on.

    Raises :class:`OllamaCacheIntegrityError` as soon as more bytes arrive than the size allows, when the
    source ends early, or when the complete bytes hash to another digest; in that last case the final
    chunk is never passed on.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        blob: Descriptor,
        *,
        source: str,
        on_mismatch: Callable[[], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._chunks = iter(chunks)
        self._blob = blob
        self._source = source
        self._on_mismatch = on_mismatch
        self._progress = progress
        self._hasher = hashlib.sha256()
        self._received = 0
        self._pending = b""
        self._finished = False

    @property
    def received(self) -> int:
        """Bytes taken from the source so far."""
        return self._received

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._next_chunk():
            yield chunk

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); ``b""`` once the verified end is reached."""
        pieces = []
        wanted = size if size >= 0 else None
        have = 0
        while wanted is None or have < wanted:
            if not self._pending:
                self._pending = self._next_chunk()
                if not self._pending:
                    break
            take = len(self._pending) if wanted is None else min(wanted - have, len(self._pending))
            pieces.append(self._pending[:take])
            self._pending = self._pending[take:]
            have += take
        return b"".join(pieces)

    def _next_chunk(self) -> bytes:
        """The next chunk to pass on; ``b""`` at the end, which is reached only through the checks."""
        if self._finished:
            return b""
        for chunk in self._chunks:
            if not chunk:
                continue
            self._received += len(chunk)
            if self._received > self._blob.size:
                self._fail(f"it sent more than the {self._blob.size} bytes the manifest gives")
            self._hasher.update(chunk)
            if self._received == self._blob.size:
                self._check_digest()
            if self._progress is not None:
                self._progress(len(chunk))
            return bytes(chunk)
        if self._received < self._blob.size:
            self._fail(f"it ended after {self._received} of {self._blob.size} bytes")
        if self._blob.size == 0:
            self._check_digest()  # no chunk ever reached the size: check the empty blob here
        self._finished = True
        return b""

    def _check_digest(self) -> None:
        digest = "sha256:" + self._hasher.hexdigest()
        if digest != self._blob.digest:
            self._fail(f"its {self._received} bytes hash to {digest}")

    def _fail(self, what: str) -> None:
        if self._on_mismatch is not None:
            self._on_mismatch()
        raise OllamaCacheIntegrityError(
            f"{self._blob.kind} blob {self._blob.digest} from {self._source} is corrupt or truncated: "
            f"{what}; it was not installed"
        )
