"""Where the registry emulator's blob bytes come from: memory, a synthetic GGUF, or a pushed file.

Every source answers any byte range as a stream of chunks, so serving a multi-GiB layer never holds
more than one chunk in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from airflow_provider_ollama.store import sha256_digest
from airflow_provider_ollama.testing.gguf import SyntheticGGUF

CHUNK_SIZE = 1 << 20


class BlobSource(Protocol):
    """Bytes of one blob, readable by range."""

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    def iter_bytes(self, start: int = 0, end: int | None = None, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The bytes ``[start, end)`` in chunks of at most ``chunk`` bytes."""
        ...


class BytesBlob:
    """A small blob held in memory (config, template, params… layers)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.digest = sha256_digest(data)
        self.size = len(data)

    def __repr__(self) -> str:
        return f"BytesBlob({self.digest}, {self.size} bytes)"

    def iter_bytes(self, start: int = 0, end: int | None = None, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        for position in range(start, stop, chunk):
            yield self.data[position : min(stop, position + chunk)]


class GGUFBlob:
    """A model layer generated on demand from a :class:`SyntheticGGUF`."""

    def __init__(self, gguf: SyntheticGGUF) -> None:
        self.gguf = gguf
        self.digest = gguf.digest
        self.size = gguf.size

    def __repr__(self) -> str:
        return f"GGUFBlob({self.digest}, {self.size} bytes)"

    def iter_bytes(self, start: int = 0, end: int | None = None, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
        return self.gguf.iter_bytes(start, end, chunk)


@dataclass(frozen=True)
class FileBlob:
    """A blob pushed to the emulator, kept as a file whose digest was verified on upload."""

    path: Path
    digest: str
    size: int

    def iter_bytes(self, start: int = 0, end: int | None = None, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        with self.path.open("rb") as handle:
            handle.seek(start)
            position = start
            while position < stop:
                piece = handle.read(min(chunk, stop - position))
                if not piece:
                    return
                position += len(piece)
                yield piece
