"""Synthetic GGUF files are valid, deterministic, randomly readable, and their big digests are cached."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import time
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.gguf import (
    GGUFSpec,
    SyntheticGGUF,
    file_type_label,
    read_gguf_header,
    read_gguf_metadata,
)

SMALL = GGUFSpec(size_bytes=256 << 10, seed="test")


@pytest.fixture
def emulator_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("OLLAMA_EMULATOR_CACHE", str(cache))
    return cache


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
