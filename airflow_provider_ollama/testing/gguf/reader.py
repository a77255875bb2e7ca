"""A reader for the header of any GGUF file (metadata and tensor infos), never its tensor data.

The server emulator reads a model's metadata the way Ollama does: ``/api/show``, capabilities, and the
GGUF magic check of ``/api/create``.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from airflow_provider_ollama.testing.gguf.format import (
    GGUF_MAGIC,
    NOT_GGUF_MESSAGE,
    SCALAR_FORMATS,
    GGUFFormatError,
    GGUFValueType,
)

_MAX_KEY_LENGTH = 1 << 16
_MAX_STRING_LENGTH = 64 << 20
_MAX_ARRAY_LENGTH = 1 << 28
_MAX_TENSOR_DIMS = 8
# Real headers (a 256k-token vocabulary and its merges) stay far below this.
_MAX_HEADER_BYTES = 512 << 20


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor-info entry of a GGUF header."""

    name: str
    shape: tuple[int, ...]
    type: int
    offset: int


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file says about itself before its tensor data."""

    version: int
    metadata: dict[str, object]
    tensors: tuple[GGUFTensorInfo, ...]


class _Reader:
    """Reads GGUF primitives in the file's byte order, refusing lengths beyond what is left."""

    def __init__(self, stream: BinaryIO, byte_order: str, remaining: int) -> None:
        self._stream = stream
        self._order = byte_order
        self._remaining = remaining

    def take(self, count: int) -> bytes:
        if count > self._remaining:
            raise GGUFFormatError(f"GGUF header is truncated or corrupt: needs {count} more bytes")
        data = self._stream.read(count)
        if len(data) != count:
            raise GGUFFormatError("GGUF header is truncated: unexpected end of file")
        self._remaining -= count
        return data

    def unpack(self, fmt: str) -> tuple[object, ...]:
        layout = struct.Struct(self._order + fmt)
        return layout.unpack(self.take(layout.size))

    def uint(self, fmt: str) -> int:
        value = self.unpack(fmt)[0]
        assert isinstance(value, int)
        return value

    def length(self, fmt: str, limit: int, what: str) -> int:
        value = self.uint(fmt)
        if value > limit:
            raise GGUFFormatError(f"GGUF header is corrupt: {what} of {value} exceeds {limit}")
        return value

    def string(self, length_fmt: str) -> str:
        data = self.take(self.length(length_fmt, _MAX_STRING_LENGTH, "string length"))
        return data.decode("utf-8", errors="replace")

    def value(self, value_type: int, length_fmt: str, max_array_length: int | None) -> object:
        if value_type == GGUFValueType.STRING:
            return self.string(length_fmt)
        if value_type == GGUFValueType.ARRAY:
            element_type = self.uint("I")
            count = self.length(length_fmt, _MAX_ARRAY_LENGTH, "array length")
            if element_type in _SCALAR_FORMATS_BY_NUMBER:
                fmt = _SCALAR_FORMATS_BY_NUMBER[element_type]
                values = list(self.unpack(f"{count}{fmt}"))
            else:
                values = [self.value(element_type, length_fmt, max_array_length) for _ in range(count)]
            if max_array_length is not None and count > max_array_length:
                return None
            return values
        if value_type in _SCALAR_FORMATS_BY_NUMBER:
            return self.unpack(_SCALAR_FORMATS_BY_NUMBER[value_type])[0]
        raise GGUFFormatError(f"GGUF header is corrupt: unknown value type {value_type}")


_SCALAR_FORMATS_BY_NUMBER = {int(kind): fmt for kind, fmt in SCALAR_FORMATS.items()}


def _stream_size(stream: BinaryIO) -> int | None:
    try:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    except (OSError, ValueError):
        return None
    return end - position


def _parse(stream: BinaryIO, *, tensors: bool, max_array_length: int | None) -> GGUFHeader:
    magic = stream.read(4)
    if magic == GGUF_MAGIC:
        byte_order = "<"
    elif magic == GGUF_MAGIC[::-1]:
        byte_order = ">"
    else:
        raise GGUFFormatError(NOT_GGUF_MESSAGE)
    size = _stream_size(stream)
    reader = _Reader(
        stream, byte_order, min(size, _MAX_HEADER_BYTES) if size is not None else _MAX_HEADER_BYTES
    )
    version = reader.uint("I")
    if version not in (1, 2, 3):
        raise GGUFFormatError(f"unsupported GGUF version {version}")
    # Version 1 stored counts and lengths as 32-bit numbers; later versions use 64 bits.
    length_fmt = "I" if version == 1 else "Q"
    tensor_count = reader.length(length_fmt, _MAX_ARRAY_LENGTH, "tensor count")
    kv_count = reader.length(length_fmt, _MAX_ARRAY_LENGTH, "metadata count")
    metadata: dict[str, object] = {}
    for _ in range(kv_count):
        key_length = reader.length(length_fmt, _MAX_KEY_LENGTH, "key length")
        key = reader.take(key_length).decode("utf-8", errors="replace")
        metadata[key] = reader.value(reader.uint("I"), length_fmt, max_array_length)
    infos: list[GGUFTensorInfo] = []
    for _ in range(tensor_count if tensors else 0):
        name = reader.string(length_fmt)
        dims = reader.length("I", _MAX_TENSOR_DIMS, "tensor dimension count")
        shape = tuple(reader.uint(length_fmt) for _ in range(dims))
        infos.append(GGUFTensorInfo(name, shape, reader.uint("I"), reader.uint("Q")))
    return GGUFHeader(version=version, metadata=metadata, tensors=tuple(infos))


def read_gguf_header(
    source: str | os.PathLike[str] | BinaryIO, *, tensors: bool = True, max_array_length: int | None = None
) -> GGUFHeader:
    """Parse the header of a GGUF file (a path or a binary file object positioned at its start).

    Reads only the header, never the tensor data. ``max_array_length`` replaces longer arrays
    (a real model's 150k-token vocabulary) by ``None``, as ``/api/show`` does unless verbose.
    Raises :class:`GGUFFormatError` (a ``ValueError``) with Ollama's message
    ``supplied file was not in GGUF format`` for other files, or naming what is wrong.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return _parse(handle, tensors=tensors, max_array_length=max_array_length)
    return _parse(source, tensors=tensors, max_array_length=max_array_length)


def read_gguf_metadata(
    source: str | os.PathLike[str] | BinaryIO, *, max_array_length: int | None = None
) -> dict[str, object]:
    """The metadata key/value pairs of a GGUF file, stopping before its tensor infos."""
    return read_gguf_header(source, tensors=False, max_array_length=max_array_length).metadata


def is_gguf(source: str | os.PathLike[str] | BinaryIO) -> bool:
    """Whether the file starts with the GGUF magic in either byte order (Ollama's create check)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            magic = handle.read(4)
    else:
        magic = source.read(4)
    return magic in (GGUF_MAGIC, GGUF_MAGIC[::-1])
