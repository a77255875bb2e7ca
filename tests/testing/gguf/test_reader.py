"""The GGUF header reader parses any GGUF file (every value type, both byte orders) and refuses others."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.gguf import (
    NOT_GGUF_MESSAGE,
    GGUFFormatError,
    GGUFValueType,
    is_gguf,
    read_gguf_header,
    read_gguf_metadata,
)


def _s(text: str, order: str = "<") -> bytes:
    data = text.encode()
    return struct.pack(order + "Q", len(data)) + data


def _hand_built_gguf(order: str = "<") -> bytes:
    """A GGUF written with struct alone (independent of the module's writer), every value type."""
    magic = b"GGUF" if order == "<" else b"FUGG"
    kvs = [
        (_s("u8", order), GGUFValueType.UINT8, struct.pack(order + "B", 200)),
        (_s("i8", order), GGUFValueType.INT8, struct.pack(order + "b", -5)),
        (_s("u16", order), GGUFValueType.UINT16, struct.pack(order + "H", 60_000)),
        (_s("i16", order), GGUFValueType.INT16, struct.pack(order + "h", -3000)),
        (_s("u32", order), GGUFValueType.UINT32, struct.pack(order + "I", 4_000_000_000)),
        (_s("i32", order), GGUFValueType.INT32, struct.pack(order + "i", -7)),
        (_s("f32", order), GGUFValueType.FLOAT32, struct.pack(order + "f", 1.5)),
        (_s("bool", order), GGUFValueType.BOOL, b"\x01"),
        (_s("str", order), GGUFValueType.STRING, _s("héllo", order)),
        (_s("u64", order), GGUFValueType.UINT64, struct.pack(order + "Q", 2**63)),
        (_s("i64", order), GGUFValueType.INT64, struct.pack(order + "q", -(2**40))),
        (_s("f64", order), GGUFValueType.FLOAT64, struct.pack(order + "d", 2.25)),
        (
            _s("strings", order),
            GGUFValueType.ARRAY,
            struct.pack(order + "IQ", GGUFValueType.STRING, 2) + _s("a", order) + _s("bc", order),
        ),
        (
            _s("nested", order),
            GGUFValueType.ARRAY,
            struct.pack(order + "IQ", GGUFValueType.ARRAY, 2)
            + struct.pack(order + "IQ", GGUFValueType.INT32, 2)
            + struct.pack(order + "2i", 1, 2)
            + struct.pack(order + "IQ", GGUFValueType.INT32, 1)
            + struct.pack(order + "i", 3),
        ),
    ]
    body = b"".join(key + struct.pack(order + "I", kind) + value for key, kind, value in kvs)
    tensor = _s("w", order) + struct.pack(order + "I2QIQ", 2, 3, 2, 0, 0)
    return magic + struct.pack(order + "IQQ", 3, 1, len(kvs)) + body + tensor + bytes(24)


EXPECTED_VALUES = {
    "u8": 200,
    "i8": -5,
    "u16": 60_000,
    "i16": -3000,
    "u32": 4_000_000_000,
    "i32": -7,
    "f32": 1.5,
    "bool": True,
    "str": "héllo",
    "u64": 2**63,
    "i64": -(2**40),
    "f64": 2.25,
    "strings": ["a", "bc"],
    "nested": [[1, 2], [3]],
}


def test_reader_parses_every_gguf_value_type(tmp_path: Path) -> None:
    path = tmp_path / "all-types.gguf"
    path.write_bytes(_hand_built_gguf())

    header = read_gguf_header(path)

    assert header.version == 3
    assert header.metadata == EXPECTED_VALUES
    assert [(t.name, t.shape, t.type) for t in header.tensors] == [("w", (3, 2), 0)]


def test_reader_parses_big_endian_files() -> None:
    assert read_gguf_metadata(io.BytesIO(_hand_built_gguf(">"))) == EXPECTED_VALUES


def test_reader_can_drop_long_arrays() -> None:
    metadata = read_gguf_metadata(io.BytesIO(_hand_built_gguf()), max_array_length=1)

    assert metadata["strings"] is None
    assert metadata["u8"] == 200


def test_reader_rejects_a_non_gguf_file_with_ollamas_message(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b'{"__metadata__": {}}')

    with pytest.raises(ValueError, match=f"^{NOT_GGUF_MESSAGE}$"):
        read_gguf_metadata(path)
    assert not is_gguf(path)


def test_reader_rejects_a_truncated_header() -> None:
    data = _hand_built_gguf()[:100]

    with pytest.raises(GGUFFormatError, match="truncated"):
        read_gguf_metadata(io.BytesIO(data))


def test_reader_refuses_lengths_beyond_the_file_without_reading_them() -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40)

    with pytest.raises(GGUFFormatError, match="key length"):
        read_gguf_metadata(io.BytesIO(data))


def test_is_gguf_accepts_both_byte_orders() -> None:
    assert is_gguf(io.BytesIO(b"GGUF\x03\x00\x00\x00"))
    assert is_gguf(io.BytesIO(b"FUGG\x00\x00\x00\x03"))
    assert not is_gguf(io.BytesIO(b"PK\x03\x04"))
