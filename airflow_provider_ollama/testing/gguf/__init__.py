"""GGUF model files for the emulators: synthetic files written on the fly (``writer``) and a header reader.

``format`` holds what both share (magic, value types, file-type labels).
"""

from __future__ import annotations

from airflow_provider_ollama.testing.gguf.format import (
    FILE_TYPES,
    GGUF_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_VERSION,
    NOT_GGUF_MESSAGE,
    POOLING_TYPES,
    GGUFFormatError,
    GGUFValueType,
    file_type_label,
    parameter_size_label,
)
from airflow_provider_ollama.testing.gguf.reader import (
    GGUFHeader,
    GGUFTensorInfo,
    is_gguf,
    read_gguf_header,
    read_gguf_metadata,
)
from airflow_provider_ollama.testing.gguf.writer import GGUFSpec, SyntheticGGUF

__all__ = [
    "FILE_TYPES",
    "GGUF_ALIGNMENT",
    "GGUF_MAGIC",
    "GGUF_VERSION",
    "NOT_GGUF_MESSAGE",
    "POOLING_TYPES",
    "GGUFFormatError",
    "GGUFHeader",
    "GGUFSpec",
    "GGUFTensorInfo",
    "GGUFValueType",
    "SyntheticGGUF",
    "file_type_label",
    "is_gguf",
    "parameter_size_label",
    "read_gguf_header",
    "read_gguf_metadata",
]
