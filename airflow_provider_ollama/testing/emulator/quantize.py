"""The GGUF rewrite ``/api/create`` runs through ``llama-quantize``: quantizing, or validating a copy.

Ollama 0.33 (``server/create.go``: ``rewriteLayerWithLlamaQuantize``, ``server/quantization.go``)
passes every uploaded GGUF model through ``llama-quantize``: with ``quantize`` set it converts an
F32/F16/BF16 model (status ``quantizing F16 model to Q4_K_M``), otherwise it copies it (``COPY``,
status ``validating GGUF model``). Progress comes from llama-quantize's per-tensor ``[ i/ n]``
lines, reported under the placeholder digest ``0000000000000000000`` with ``total`` the layer's
size, then ``verifying conversion``.

The emulator cannot requantize tensors. A quantized copy differs from its source only in
``general.file_type`` (what ``/api/show`` and ``/api/tags`` report); a validated copy is the same
bytes, so its layer is announced as ``using existing layer`` (llama-quantize's own rewrite may
change bytes, which the emulator cannot predict).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.layers import BuildLayer, existing_layer, new_layer_from_chunks
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from airflow_provider_ollama.testing.gguf import FILE_TYPES, file_type_label
from airflow_provider_ollama.testing.gguf.reader import read_gguf_header

#: ``ggml.ParseFileType``: accepted names (``Q4_K`` means Q4_K_M) and the list its error gives.
_PARSE_FILE_TYPE = {"F32": "F32", "F16": "F16", "Q8_0": "Q8_0", "Q4_K_S": "Q4_K_S", "Q4_K_M": "Q4_K_M"}
_PARSE_FILE_TYPE |= {"Q4_K": "Q4_K_M", "BF16": "BF16"}
_SUPPORTED_LIST = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"
#: Source types Ollama quantizes from.
QUANTIZABLE = ("F16", "BF16", "F32")
COPY = "COPY"
_PROGRESS_DIGEST = "0000000000000000000"
_KEY = b"general.file_type"
_KEY_PREFIX = struct.pack("<Q", len(_KEY)) + _KEY
_UINT32 = 4
_CHUNK = 1 << 20
#: ggml tensor types: (elements per block, bytes per block), for ``Tensor.Size``.
_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}  # fmt: skip


def parse_file_type(name: str) -> int:
    """``ggml.ParseFileType``; its error is the create stream's 500."""
    label = _PARSE_FILE_TYPE.get(name)
    if label is None:
        raise ApiError(500, f"unsupported quantization type {name} - supported types are {_SUPPORTED_LIST}")
    return FILE_TYPES[label]


def _float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def _tensor_layout(path: Path) -> tuple[int, list[int]]:
    """``(offset of the tensor data, each tensor's byte size)`` as Ollama's GGUF decoder sees them."""
    with path.open("rb") as handle:
        header = read_gguf_header(handle)
        end = handle.tell()
    alignment = int(header.metadata.get("general.alignment", 32) or 32)  # type: ignore[call-overload]
    offset = -(-end // alignment) * alignment
    sizes = []
    for tensor in header.tensors:
        elements = 1
        for dim in tensor.shape:
            elements *= dim
        block, block_bytes = _BLOCKS.get(tensor.type, (1, 1))
        sizes.append(elements * block_bytes // block)
    return offset, sizes


def _progress(layer: BuildLayer, path: Path, status: str) -> Iterator[dict[str, Any]]:
    """llama-quantize's per-tensor progress, as ``fnWrap`` turns it into create progress lines."""
    offset, sizes = _tensor_layout(path)
    total_bytes = _float32(layer.size - offset) or 1.0
    total_size, count, reported = sum(sizes), len(sizes), 0
    for current in range(1, count + 1):
        done = total_size * current // count
        if done <= reported:
            continue
        reported = done
        fraction = _float32(_float32(done) / total_bytes)
        completed = int(_float32(fraction * _float32(layer.size)))
        event: dict[str, Any] = {"status": status, "digest": _PROGRESS_DIGEST, "total": layer.size}
        if completed:
            event["completed"] = completed
        yield event


def _patched(path: Path, file_type: int, header_length: int) -> Iterator[bytes]:
    """The file with ``general.file_type`` rewritten in its header, streamed in bounded chunks."""
    with path.open("rb") as handle:
        head = handle.read(header_length)
        position = head.find(_KEY_PREFIX)
        value_at = position + len(_KEY_PREFIX)
        if position >= 0 and struct.unpack_from("<I", head, value_at)[0] == _UINT32:
            head = head[: value_at + 4] + struct.pack("<I", file_type) + head[value_at + 8 :]
        yield head
        while chunk := handle.read(_CHUNK):
            yield chunk


async def rewrite_layer(
    state: EmulatorState, layer: BuildLayer, type_name: str
) -> AsyncIterator[dict[str, Any] | BuildLayer]:
    """Progress events, then the rewritten layer: quantized to ``type_name``, or a ``COPY``."""
    assert layer.gguf is not None
    path = state.store.blob_path(layer.digest)
    current = file_type_label(int(layer.gguf.get("general.file_type", -1)))
    target = None if type_name == COPY else parse_file_type(type_name)
    status = "validating GGUF model" if target is None else f"quantizing {current} model to {type_name}"
    for event in await asyncio.to_thread(lambda: list(_progress(layer, path, status))):
        yield event
    yield {"status": "verifying conversion"}
    if target is None:
        # The emulator's COPY writes the same bytes: the blob is already stored, under the same digest.
        new = existing_layer(state.store, layer.digest, layer.media_type, "")
    else:
        header_length, _ = await asyncio.to_thread(_tensor_layout, path)
        chunks = _patched(path, target, header_length)
        new = await asyncio.to_thread(new_layer_from_chunks, state.store, chunks, layer.media_type)
    gguf = dict(layer.gguf)
    if target is not None:
        gguf["general.file_type"] = target
    new.gguf, new.parameters = gguf, layer.parameters
    yield new
