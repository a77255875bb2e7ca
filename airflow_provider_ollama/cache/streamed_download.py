"""One GET streamed into a file and hashed on the way: the restore of blobs below the multipart threshold.

s3transfer downloads such a blob with one GET too, but it hands every 256 KiB chunk from the thread that
reads the socket to its writer thread, and :class:`HashingFileWriter` hands it on to a hash thread. On
two busy cores those hand-overs cost more than the hash itself: strace counted 57,000 futex calls for a
2 GiB restore against 76 for a plain ``download_file``, and the verified restore reached only 0.71 of
its throughput. Here the calling thread reads the response and hashes each chunk while one writer
thread appends the chunk before it to the file; both release the GIL while they work. The restore
bench measured 0.84-0.93 of plain boto3's throughput this way, where it had measured 0.71; hashing in
the writer thread instead measured 0.88 against 0.95 in one experiment (see bench/README.md).

A response that breaks off midway (a reset connection, a read timeout, fewer bytes than announced) is
resumed from the first missing byte with a ranged GET that must match the first response's ETag, so
bytes from two versions of an object are never joined; ``attempts`` bounds the requests in all.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Protocol

#: Bytes per read from the response: the writer's queue holds at most _QUEUE_DEPTH of them, which bounds
#: the memory of a restore whatever the blob's size.
CHUNK_SIZE = 1 << 20
_QUEUE_DEPTH = 4


class ResponseBody(Protocol):
    """What the download needs from a GET's body (botocore's ``StreamingBody``)."""

    def read(self, amt: int | None = ..., /) -> bytes: ...
    def close(self) -> None: ...


class Response(Protocol):
    """A GET's body and the ETag that a resumed GET must match."""

    @property
    def body(self) -> ResponseBody: ...
    @property
    def etag(self) -> str | None: ...


#: Opens a GET of the object from ``start`` on, matching ``etag`` when it is given.
OpenRange = Callable[[int, str | None], Response]


def stream_to_file(
    open_range: OpenRange,
    fd: int,
    *,
    attempts: int,
    retryable: tuple[type[BaseException], ...],
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Write an object from offset 0 of ``fd`` on; return its ``sha256:<hex>`` digest and size.

    Errors in ``retryable`` while the body is read resume the download, up to ``attempts`` GETs in all;
    any other error, or the last attempt's, propagates, and the writer thread has stopped by then.
    """
    writer = _AppendingWriter(fd)
    hasher = hashlib.sha256()
    received = 0
    etag: str | None = None
    try:
        for attempt in range(1, attempts + 1):
            response = open_range(received, etag)
            etag = etag or response.etag
            try:
                while chunk := response.body.read(CHUNK_SIZE):
                    writer.put(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                break
            except retryable:
                if attempt == attempts:
                    raise
            finally:
                response.body.close()
    except BaseException:
        writer.stop()
        raise
    return "sha256:" + hasher.hexdigest(), writer.finish()


class _AppendingWriter:
    """A thread that appends chunks to ``fd`` in the order they were put."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._written = 0
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ollama-cache-writer", daemon=True)
        self._thread.start()

    def put(self, chunk: bytes) -> None:
        """Queue ``chunk``; raise at once if writing an earlier one failed (a full disk)."""
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def finish(self) -> int:
        """Wait until every queued chunk is on disk; return the number of bytes written."""
        self.stop()
        if self._error is not None:
            raise self._error
        return self._written

    def stop(self) -> None:
        """Let the thread write what is queued and end; after a failure the caller deletes the file."""
        self._chunks.put(None)
        self._thread.join()

    def _run(self) -> None:
        # The thread keeps taking chunks after an error, so that a reader blocked on a full queue is
        # never stuck; it only stops writing them.
        while (chunk := self._chunks.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._write(chunk)
            except BaseException as error:
                self._error = error

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            written = os.pwrite(self._fd, view, self._written)
            view = view[written:]
            self._written += written
