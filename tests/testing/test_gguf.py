"""Synthetic GGUF files are valid, deterministic and randomly readable; the reader parses any GGUF."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import time
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.gguf import (
    NOT_GGUF_MESSAGE,
    GGUFFormatError,
    GGUFSpec,
    GGUFValueType,
    SyntheticGGUF,
    file_type_label,
    is_gguf,
    parameter_size_label,
    read_gguf_header,
    read_gguf_metadata,
)

SMALL = GGUFSpec(size_bytes=256 << 10, seed="test")


@pytest.fixture
def emulator_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("OLLAMA_EMULATOR_CACHE", str(cache))
    return cache


# ------------------------------------------------------------------------------------ synthetic


@pytest.mark.smoke
def test_synthetic_header_is_read_back_by_read_gguf_metadata() -> None:
    gguf = SyntheticGGUF(GGUFSpec(architecture="llama", context_length=4096, embedding_length=128))

    metadata = read_gguf_metadata(io.BytesIO(gguf.read(0, 64 << 10)))

    assert metadata["general.architecture"] == "llama"
    assert metadata["general.file_type"] == 15
    assert file_type_label(15) == "Q4_K_M"
    assert metadata["llama.context_length"] == 4096
    assert metadata["llama.embedding_length"] == 128
    assert metadata["llama.block_count"] == 2
    assert metadata["general.parameter_count"] == 1_200_000
    assert metadata["tokenizer.ggml.model"] == "llama"
    assert isinstance(metadata["tokenizer.ggml.tokens"], list)
    assert "llama.pooling_type" not in metadata


def test_synthetic_file_starts_with_gguf_magic_and_version_3() -> None:
    head = SyntheticGGUF(SMALL).read(0, 8)

    assert head[:4] == b"GGUF"
    assert struct.unpack("<I", head[4:])[0] == 3


def test_embedding_spec_writes_pooling_type_under_its_architecture() -> None:
    spec = GGUFSpec(architecture="bert", pooling="mean", tokenizer="bert", seed="embed")

    metadata = read_gguf_metadata(io.BytesIO(SyntheticGGUF(spec).header))

    assert metadata["bert.pooling_type"] == 1


def test_tensor_data_ends_exactly_at_the_requested_size() -> None:
    gguf = SyntheticGGUF(GGUFSpec(size_bytes=300_001, seed="odd"))

    header = read_gguf_header(io.BytesIO(gguf.header))

    last = max(header.tensors, key=lambda tensor: tensor.offset)
    assert last.type == 24  # I8: one byte per element
    assert len(gguf.header) % 32 == 0
    assert len(gguf.header) + last.offset + last.shape[0] == gguf.size == 300_001


def test_same_spec_gives_the_same_digest_and_another_seed_another() -> None:
    first = SyntheticGGUF(SMALL).digest

    assert SyntheticGGUF(GGUFSpec(size_bytes=256 << 10, seed="test")).digest == first
    assert SyntheticGGUF(GGUFSpec(size_bytes=256 << 10, seed="other")).digest != first
    assert first.startswith("sha256:")
    assert len(first) == 71


def test_digest_is_sha256_of_the_bytes_written(tmp_path: Path) -> None:
    gguf = SyntheticGGUF(SMALL)
    path = gguf.write_to(tmp_path / "model.gguf")

    assert path.stat().st_size == gguf.size
    assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == SyntheticGGUF(SMALL).digest


def test_random_reads_equal_the_sequential_bytes() -> None:
    spec = GGUFSpec(size_bytes=(3 << 20) + 12_345, seed="random-access")
    gguf = SyntheticGGUF(spec)
    whole = b"".join(gguf.iter_bytes())
    tile = 1 << 20
    data_start = len(gguf.header)
    offsets = [0, 5, data_start - 3, data_start, data_start + tile - 2, 2 * tile + 17, gguf.size - 10]

    for offset in offsets:
        for length in (1, 7, 4096, tile + 3):
            assert gguf.read(offset, length) == whole[offset : offset + length], (offset, length)


def test_iter_bytes_honours_start_end_and_chunk_size() -> None:
    gguf = SyntheticGGUF(SMALL)
    whole = gguf.read(0, gguf.size)

    chunks = list(gguf.iter_bytes(1000, 50_000, chunk=4096))

    assert b"".join(chunks) == whole[1000:50_000]
    assert max(len(chunk) for chunk in chunks) <= 4096


def test_read_past_the_end_returns_only_what_exists() -> None:
    gguf = SyntheticGGUF(SMALL)

    assert len(gguf.read(gguf.size - 4, 100)) == 4
    assert gguf.read(gguf.size, 10) == b""


def test_streaming_a_large_file_is_fast() -> None:
    gguf = SyntheticGGUF(GGUFSpec(size_bytes=512 << 20, seed="speed"))

    started = time.perf_counter()
    total = sum(len(chunk) for chunk in gguf.iter_bytes(start=12_345))
    elapsed = time.perf_counter() - started

    print(f"iter_bytes: {total / elapsed / 1e6:.0f} MB/s")
    assert total == gguf.size - 12_345
    assert elapsed < 2.0


def test_big_digest_is_cached_on_disk_and_reused(emulator_cache: Path) -> None:
    spec = GGUFSpec(size_bytes=32 << 20, seed="cached")
    digest = SyntheticGGUF(spec).digest
    [cache_file] = (emulator_cache / "gguf-digests").iterdir()
    record = json.loads(cache_file.read_text())
    assert record["digest"] == digest

    # A new process (a new object) must take the digest from disk, not recompute it.
    cache_file.write_text(json.dumps({**record, "digest": "sha256:" + "0" * 64}))
    assert SyntheticGGUF(spec).digest == "sha256:" + "0" * 64


def test_small_digests_are_not_written_to_the_disk_cache(emulator_cache: Path) -> None:
    assert SyntheticGGUF(SMALL).digest
    assert not emulator_cache.exists()


def test_spec_rejects_unknown_file_type_and_pooling() -> None:
    with pytest.raises(ValueError, match="unknown GGUF file_type 'Q9'"):
        GGUFSpec(file_type="Q9")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        GGUFSpec(pooling="max")


def test_too_small_size_names_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"too small for its header; use at least \d+ bytes"):
        SyntheticGGUF(GGUFSpec(size_bytes=100))


@pytest.mark.parametrize(
    ("count", "label"),
    [
        (3_200_000_000, "3.2B"),
        (8_000_000_000, "8B"),
        (137_000_000, "137M"),
        (22_700_000, "22.7M"),
        (23_000, "23K"),
    ],
)
def test_parameter_size_label_matches_ollama_style(count: int, label: str) -> None:
    assert parameter_size_label(count) == label


# -------------------------------------------------------------------------------------- reader


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
