"""Synthetic GGUF model files generated on the fly: any size, any byte range in constant time and memory.

The registry emulator serves model layers of any size (up to several GiB) without storing them.
A synthetic file is a real GGUF v3 header (metadata and tensor infos) followed by tensor data that
tiles one pseudo-random block::

    gguf = SyntheticGGUF(GGUFSpec(size_bytes=256 << 20, seed="big"))
    gguf.digest                      # 'sha256:…', computed once per machine and cached on disk
    gguf.read(0, 4)                  # b'GGUF'
    for chunk in gguf.iter_bytes():  # streams at memory speed
        ...
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from airflow_provider_ollama.store import atomic_write
from airflow_provider_ollama.testing.gguf.format import (
    FILE_TYPES,
    GGUF_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_VERSION,
    POOLING_TYPES,
    SCALAR_FORMATS,
    GGUFValueType,
    parameter_size_label,
)

# ggml tensor types used by synthetic files; one byte per I8 element lets the filler fit any size.
_TENSOR_TYPE_F32 = 0
_TENSOR_TYPE_I8 = 24

# The tile: big enough that a chunk is one memory copy, small enough to keep per file.
_TILE_SIZE = 1 << 20
# Bumped whenever the byte layout changes, so digests cached on disk by older code are not reused.
_LAYOUT_VERSION = 2  # 2: general.size_label is format.HumanNumber ("1.20M")
# Below this size hashing is faster than a cache lookup on disk.
_DISK_CACHE_MIN_SIZE = 32 << 20


@dataclass(frozen=True)
class GGUFSpec:
    """Everything that determines a synthetic GGUF file; equal specs give byte-identical files."""

    architecture: str = "llama"
    size_bytes: int = 1 << 20
    context_length: int = 2048
    embedding_length: int = 64
    block_count: int = 2
    #: ``None`` for a generative model; ``"mean"``, ``"cls"``… makes it an embedding model.
    pooling: str | None = None
    file_type: str = "Q4_K_M"
    parameter_count: int = 1_200_000
    name: str = "synthetic"
    tokenizer: str = "llama"
    seed: str = "0"

    def __post_init__(self) -> None:
        if self.file_type not in FILE_TYPES:
            raise ValueError(f"unknown GGUF file_type {self.file_type!r}; use one of {', '.join(FILE_TYPES)}")
        if self.pooling is not None and self.pooling not in POOLING_TYPES:
            raise ValueError(
                f"unknown pooling {self.pooling!r}; use None or one of {', '.join(POOLING_TYPES)}"
            )
        for field_name in ("context_length", "embedding_length", "block_count", "parameter_count"):
            if getattr(self, field_name) <= 0:
                raise ValueError(f"GGUFSpec.{field_name} must be positive")

    @property
    def parameter_size(self) -> str:
        """The parameter-count label (``1.20M``) Ollama shows as ``details.parameter_size``."""
        return parameter_size_label(self.parameter_count)

    @property
    def cache_key(self) -> str:
        """A stable hex key of the spec and the generator's layout version."""
        document = json.dumps({**asdict(self), "layout": _LAYOUT_VERSION}, sort_keys=True)
        return hashlib.sha256(document.encode()).hexdigest()


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value_type: GGUFValueType, value: object) -> bytes:
    if value_type is GGUFValueType.STRING:
        assert isinstance(value, str)
        return _string(value)
    return struct.pack("<" + SCALAR_FORMATS[value_type], value)


def _kv(key: str, value_type: GGUFValueType, value: object) -> bytes:
    return _string(key) + struct.pack("<I", value_type) + _value(value_type, value)


def _array_kv(key: str, element_type: GGUFValueType, values: Sequence[object]) -> bytes:
    body = b"".join(_value(element_type, item) for item in values)
    header = struct.pack("<IIQ", GGUFValueType.ARRAY, element_type, len(values))
    return _string(key) + header + body


def _tensor_info(name: str, shape: tuple[int, ...], tensor_type: int, offset: int) -> bytes:
    dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
    return _string(name) + dims + struct.pack("<IQ", tensor_type, offset)


def _align(offset: int) -> int:
    return -(-offset // GGUF_ALIGNMENT) * GGUF_ALIGNMENT


def _synthetic_tokens(tokenizer: str) -> list[object]:
    specials = ["[PAD]", "[CLS]", "[SEP]"] if tokenizer == "bert" else ["<unk>", "<s>", "</s>"]
    return [*specials, *(f"tok{index}" for index in range(13))]


def _metadata(spec: GGUFSpec) -> list[bytes]:
    arch = spec.architecture
    tokens = _synthetic_tokens(spec.tokenizer)
    entries = [
        _kv("general.architecture", GGUFValueType.STRING, arch),
        _kv("general.name", GGUFValueType.STRING, spec.name),
        _kv("general.file_type", GGUFValueType.UINT32, FILE_TYPES[spec.file_type]),
        _kv("general.parameter_count", GGUFValueType.UINT64, spec.parameter_count),
        _kv("general.size_label", GGUFValueType.STRING, spec.parameter_size),
        _kv("general.quantization_version", GGUFValueType.UINT32, 2),
        _kv("general.alignment", GGUFValueType.UINT32, GGUF_ALIGNMENT),
        _kv(f"{arch}.context_length", GGUFValueType.UINT32, spec.context_length),
        _kv(f"{arch}.embedding_length", GGUFValueType.UINT32, spec.embedding_length),
        _kv(f"{arch}.block_count", GGUFValueType.UINT32, spec.block_count),
        _kv(f"{arch}.attention.head_count", GGUFValueType.UINT32, max(1, spec.embedding_length // 32)),
        _kv(f"{arch}.attention.layer_norm_rms_epsilon", GGUFValueType.FLOAT32, 1e-5),
    ]
    if spec.pooling is not None:
        entries.append(_kv(f"{arch}.pooling_type", GGUFValueType.UINT32, POOLING_TYPES[spec.pooling]))
    entries += [
        _kv("tokenizer.ggml.model", GGUFValueType.STRING, spec.tokenizer),
        _array_kv("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens),
        _array_kv("tokenizer.ggml.token_type", GGUFValueType.INT32, [3, 3, 3] + [1] * (len(tokens) - 3)),
        _array_kv("tokenizer.ggml.scores", GGUFValueType.FLOAT32, [0.0] * len(tokens)),
        _kv("tokenizer.ggml.bos_token_id", GGUFValueType.UINT32, 1),
        _kv("tokenizer.ggml.eos_token_id", GGUFValueType.UINT32, 2),
        _kv("tokenizer.ggml.add_bos_token", GGUFValueType.BOOL, True),
    ]
    return entries


def _build_prefix(spec: GGUFSpec) -> bytes:
    """Header plus the zero padding up to the aligned start of the tensor data."""
    metadata = _metadata(spec)
    norm_bytes = 4 * spec.embedding_length
    filler_offset = _align(norm_bytes)

    def header(filler_length: int) -> bytes:
        tensors = [
            _tensor_info("output_norm.weight", (spec.embedding_length,), _TENSOR_TYPE_F32, 0),
            _tensor_info("token_embd.weight", (filler_length,), _TENSOR_TYPE_I8, filler_offset),
        ]
        counts = struct.pack("<4sIQQ", GGUF_MAGIC, GGUF_VERSION, len(tensors), len(metadata))
        return counts + b"".join(metadata) + b"".join(tensors)

    # Tensor infos are fixed-width, so the header length does not depend on the filler length.
    data_start = _align(len(header(0)))
    filler_length = spec.size_bytes - data_start - filler_offset
    if filler_length < 1:
        raise ValueError(
            f"GGUFSpec.size_bytes={spec.size_bytes} is too small for its header; "
            f"use at least {data_start + filler_offset + 1} bytes"
        )
    head = header(filler_length)
    return head + bytes(data_start - len(head))


def _tile(spec: GGUFSpec) -> bytes:
    return hashlib.shake_256(f"gguf-tile:{spec.cache_key}".encode()).digest(_TILE_SIZE)


def _cache_dir() -> Path:
    configured = os.environ.get("OLLAMA_EMULATOR_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-provider-ollama" / "emulator"


class SyntheticGGUF:
    """A deterministic GGUF file of ``spec.size_bytes`` bytes that never exists in full anywhere."""

    def __init__(self, spec: GGUFSpec) -> None:
        self.spec = spec
        self._prefix = _build_prefix(spec)
        self._tile = _tile(spec)
        # Two tiles back to back: any window up to one tile long is a single slice.
        self._double_tile = memoryview(self._tile + self._tile)
        self._digest: str | None = None
        self._digest_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SyntheticGGUF({self.spec!r})"

    @property
    def size(self) -> int:
        return self.spec.size_bytes

    @property
    def header(self) -> bytes:
        """The header bytes and their padding, everything before the tensor data."""
        return self._prefix

    def _window(self, position: int, limit: int) -> bytes:
        """Bytes from ``position`` up to ``limit``, at most one tile and never across the header edge."""
        prefix_length = len(self._prefix)
        if position < prefix_length:
            return self._prefix[position : min(limit, prefix_length)]
        start = (position - prefix_length) % _TILE_SIZE
        length = min(limit - position, _TILE_SIZE)
        if start == 0 and length == _TILE_SIZE:
            return self._tile
        return bytes(self._double_tile[start : start + length])

    def iter_bytes(self, start: int = 0, end: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        """Yield the bytes ``[start, end)`` in chunks of at most ``chunk`` bytes."""
        stop = self.size if end is None else min(end, self.size)
        if start < 0 or chunk <= 0:
            raise ValueError("start must be >= 0 and chunk > 0")
        position = start
        while position < stop:
            piece = self._window(position, min(stop, position + chunk))
            position += len(piece)
            yield piece

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        return b"".join(self.iter_bytes(offset, offset + length, chunk=_TILE_SIZE))

    def write_to(self, path: Path | str) -> Path:
        """Write the whole file to ``path``; the digest is computed on the way and remembered."""
        target = Path(path)
        hasher = hashlib.sha256()
        with target.open("wb") as handle:
            for piece in self.iter_bytes():
                hasher.update(piece)
                handle.write(piece)
        self._digest = "sha256:" + hasher.hexdigest()
        return target

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the file, computed once (per process, and per machine for big files)."""
        with self._digest_lock:
            if self._digest is None:
                self._digest = self._cached_digest() or self._compute_digest()
            return self._digest

    def _cache_file(self) -> Path:
        return _cache_dir() / "gguf-digests" / f"{self.spec.cache_key}.json"

    def _cached_digest(self) -> str | None:
        if self.size < _DISK_CACHE_MIN_SIZE:
            return None
        try:
            record = json.loads(self._cache_file().read_text())
        except (OSError, ValueError):
            return None
        digest = record.get("digest") if isinstance(record, dict) else None
        return digest if isinstance(digest, str) and record.get("size") == self.size else None

    def _compute_digest(self) -> str:
        hasher = hashlib.sha256()
        for piece in self.iter_bytes(chunk=_TILE_SIZE):
            hasher.update(piece)
        digest = "sha256:" + hasher.hexdigest()
        if self.size >= _DISK_CACHE_MIN_SIZE:
            record = {"digest": digest, "size": self.size, "spec": asdict(self.spec)}
            # A read-only home only costs the next process a recomputation.
            with contextlib.suppress(OSError):
                atomic_write(self._cache_file(), json.dumps(record).encode())
        return digest
