"""``quantize`` in ``/api/create``: Ollama's checks and progress, with a stand-in conversion.

Ollama quantizes only F16/F32 GGUF models and says so otherwise. The emulator cannot requantize
tensors; it writes a copy of the model whose ``general.file_type`` names the target type, which is
what ``/api/show`` and ``/api/tags`` report, and streams the same progress lines.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.layers import BuildLayer, new_layer_from_chunks
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from airflow_provider_ollama.testing.gguf import FILE_TYPES, file_type_label

#: Targets Ollama's quantizer accepts (its documented table).
QUANTIZE_TARGETS = ("Q4_K_M", "Q4_K_S", "Q8_0")
_KEY = b"general.file_type"
_KEY_PREFIX = struct.pack("<Q", len(_KEY)) + _KEY
_UINT32 = 4
_HEADER_SCAN = 16 << 20
_CHUNK = 1 << 20
#: Ollama reports quantization progress under this placeholder digest.
_PROGRESS_DIGEST = "0000000000000000000"


def _patched(path: str, file_type: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_SCAN)
        position = head.find(_KEY_PREFIX)
        if position < 0:
            raise ApiError(500, "quantize: the model has no general.file_type")
        value_at = position + len(_KEY_PREFIX)
        (value_type,) = struct.unpack_from("<I", head, value_at)
        if value_type != _UINT32:
            raise ApiError(500, "quantize: general.file_type is not a uint32")
        yield head[: value_at + 4] + struct.pack("<I", file_type) + head[value_at + 8 :]
        while chunk := handle.read(_CHUNK):
            yield chunk


async def quantize_layer(
    state: EmulatorState, layer: BuildLayer, target: str
) -> AsyncIterator[dict[str, Any] | BuildLayer]:
    """Yield progress events, then the replacement layer (nothing if already of that type)."""
    if target not in FILE_TYPES or target not in QUANTIZE_TARGETS:
        raise ApiError(500, f"unsupported quantization type {target}")
    assert layer.gguf is not None
    current = file_type_label(int(layer.gguf.get("general.file_type", -1)))
    if current not in ("F16", "F32"):
        raise ApiError(500, "quantization is only supported for F16 and F32 models")
    if current == target:
        return
    status = f"quantizing {current} model to {target}"
    path = str(state.store.blob_path(layer.digest))
    yield {"status": status, "digest": _PROGRESS_DIGEST, "total": layer.size}
    new = await asyncio.to_thread(
        new_layer_from_chunks, state.store, _patched(path, FILE_TYPES[target]), layer.media_type
    )
    yield {"status": status, "digest": _PROGRESS_DIGEST, "total": layer.size, "completed": layer.size}
    gguf = dict(layer.gguf)
    gguf["general.file_type"] = FILE_TYPES[target]
    new.gguf, new.parameters, new.source = gguf, layer.parameters, ""
    yield new
