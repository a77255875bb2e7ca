"""The GGUF format's constants, value types and labels, shared by the synthetic writer and the reader.

GGUF is the model-file format Ollama runs; the emulator writes and reads its header like Ollama does.
"""

from __future__ import annotations

from enum import IntEnum

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_ALIGNMENT = 32
NOT_GGUF_MESSAGE = "supplied file was not in GGUF format"

#: ``general.file_type`` values (llama.cpp's ``llama_ftype``), by the label Ollama shows.
FILE_TYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_S": 11,
    "Q3_K_M": 12,
    "Q3_K_L": 13,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_S": 16,
    "Q5_K_M": 17,
    "Q6_K": 18,
    "IQ4_XS": 30,
    "BF16": 32,
}
_FILE_TYPE_NAMES = {number: label for label, number in FILE_TYPES.items()}

#: ``<arch>.pooling_type`` values (llama.cpp's ``llama_pooling_type``); present only in embedding models.
POOLING_TYPES: dict[str, int] = {"none": 0, "mean": 1, "cls": 2, "last": 3, "rank": 4}


class GGUFValueType(IntEnum):
    """Type tags of GGUF metadata values."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


#: The struct format of each fixed-size value type (the caller puts the byte order in front).
SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}


class GGUFFormatError(ValueError):
    """Raised for bytes that are not a well-formed GGUF header."""


def file_type_label(file_type: int) -> str:
    """The quantization label Ollama shows for a ``general.file_type`` number (``15`` -> ``Q4_K_M``)."""
    return _FILE_TYPE_NAMES.get(file_type, "unknown")


def parameter_size_label(count: int) -> str:
    """Ollama's ``format.HumanNumber``: ``3B``, ``3.2B``, ``137M``, ``22.70M``, ``23K``, ``999``."""
    if count >= 10**9:
        number = count / 10**9
        return f"{number:.0f}B" if number == int(number) else f"{number:.1f}B"
    if count >= 10**6:
        number = count / 10**6
        return f"{number:.0f}M" if number == int(number) else f"{number:.2f}M"
    if count >= 1000:
        return f"{count / 1000:.0f}K"
    return str(count)
