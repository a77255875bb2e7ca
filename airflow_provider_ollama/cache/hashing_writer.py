"""A file target for parallel ranged downloads that computes the file's sha256 while they run.

s3transfer writes the parts of a multipart download at their offsets (seek + write) in whatever order
they arrive. This writer records which ranges are on disk and a background thread hashes the file as
its gap-free prefix grows, re-reading from the page cache. Memory stays bounded (no buffering of
early parts, unlike a non-seekable target, which measured above 1 GiB for a 2 GiB blob) and no
second pass over a multi-GiB file is needed. Hashing in the writer itself when bytes arrive in order
measured 20% slower: it stalls s3transfer's only writer thread and with it the downloads.
Blobs below the multipart threshold do not come here: one GET streams them (streamed_download.py).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import threading
from types import TracebackType

# Re-reading in 1 MiB pieces into one reused buffer keeps the bytes in the CPU cache between the copy
# and the hash, and allocates nothing per piece: measured a third less CPU than fresh 8 MiB reads.
_HASH_READ_SIZE = 1 << 20


class _Extents:
    """Disjoint byte ranges written so far, merged as they touch."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        # Ranges that overlap or touch [start, end) are merged into one (a retried part rewrites
        # bytes it wrote before).
        low = bisect.bisect_left(self._ends, start)
        high = bisect.bisect_right(self._starts, end)
        if low < high:
            start = min(start, self._starts[low])
            end = max(end, self._ends[high - 1])
        self._starts[low:high] = [start]
        self._ends[low:high] = [end]

    @property
    def contiguous_prefix(self) -> int:
        """How many bytes from offset 0 are written without a gap."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0


class HashingFileWriter:
    """Seekable writer over an open file descriptor that hashes the written prefix in a thread.

    Use as a context manager around the download, then call :meth:`finish` for ``(digest, size)``::

        with HashingFileWriter(fd) as writer:
            client.download_fileobj(bucket, key, writer, Config=transfer_config)
            digest, size = writer.finish()

    ``seek`` + ``write`` pairs must come from one thread at a time, which is how s3transfer's single
    I/O thread calls them.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._position = 0
        self._extents = _Extents()
        self._hasher = hashlib.sha256()
        # Bytes [0, _written_prefix) are on disk (guarded by _changed); [0, _hashed) are hashed (only
        # the thread writes it; finish() reads it after joining).
        self._changed = threading.Condition()
        self._written_prefix = 0
        self._hashed = 0
        self._closing = False
        self._abandoned = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._hash_behind, name="blob-sha256", daemon=True)

    def __enter__(self) -> HashingFileWriter:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After a failed download there is nothing worth hashing: let the thread go at once.
        self._stop(abandon=exc is not None)

    # --- the file-object interface s3transfer uses -------------------------------------------------

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = os.fstat(self._fd).st_size + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        start = end = self._position
        while end - start < len(view):
            end += os.pwrite(self._fd, view[end - start :], end)
        self._position = end
        with self._changed:
            self._extents.add(start, end)
            prefix = self._extents.contiguous_prefix
            if prefix != self._written_prefix:
                self._written_prefix = prefix
                self._changed.notify()
        return end - start

    # --- results -----------------------------------------------------------------------------------

    def finish(self) -> tuple[str, int]:
        """Wait until every contiguous byte from 0 is hashed; return ``("sha256:<hex>", size)``.

        ``size`` counts only the gap-free prefix, so a missing part shows up as a size mismatch.
        """
        self._stop()
        if self._failure is not None:
            raise self._failure
        return "sha256:" + self._hasher.hexdigest(), self._hashed

    def _stop(self, *, abandon: bool = False) -> None:
        with self._changed:
            self._closing = True
            self._abandoned = self._abandoned or abandon
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _hash_behind(self) -> None:
        """Thread: hash what is on disk without a gap, a piece at a time, until told to stop."""
        buffer = bytearray(_HASH_READ_SIZE)
        view = memoryview(buffer)
        try:
            while True:
                with self._changed:
                    while self._written_prefix == self._hashed and not self._closing:
                        self._changed.wait()
                    target = self._written_prefix
                    if target == self._hashed or self._abandoned:
                        return
                while self._hashed < target and not self._abandoned:
                    wanted = min(_HASH_READ_SIZE, target - self._hashed)
                    count = os.preadv(self._fd, [view[:wanted]], self._hashed)
                    if count != wanted:
                        raise OSError(f"read {count} of {wanted} bytes written at offset {self._hashed}")
                    self._hasher.update(view[:count])  # releases the GIL: downloads go on meanwhile
                    self._hashed += count
        except BaseException as failure:  # re-raised by finish() in the caller's thread
            self._failure = failure
