"""VerifiedStream: blob bytes pass through only as far as they match their manifest entry."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.cache.streams import VerifiedStream
from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError
from airflow_provider_ollama.store import Descriptor, sha256_digest

DATA = bytes(range(256)) * 40


def blob(data: bytes = DATA) -> Descriptor:
    return Descriptor("application/vnd.ollama.image.model", sha256_digest(data), len(data))


def chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def test_iterating_passes_every_byte_of_a_good_blob() -> None:
    assert b"".join(VerifiedStream(chunks(DATA), blob(), source="s3://b/k")) == DATA


def test_reads_of_any_size_give_the_bytes_in_order_then_empty() -> None:
    stream = VerifiedStream(chunks(DATA, 333), blob(), source="s3://b/k")

    pieces = [stream.read(1024) for _ in range(11)]

    assert b"".join(pieces) == DATA
    assert pieces[-1] == b""
    assert stream.read() == b""


def test_read_without_a_size_returns_the_rest() -> None:
    stream = VerifiedStream(chunks(DATA), blob(), source="s3://b/k")
    head = stream.read(10)

    assert head + stream.read() == DATA


def test_wrong_bytes_raise_before_the_last_chunk_is_passed_on() -> None:
    bad = b"X" + DATA[1:]
    passed: list[bytes] = []
    mismatches: list[bool] = []
    stream = VerifiedStream(
        chunks(bad), blob(), source="s3://b/k", on_mismatch=lambda: mismatches.append(True)
    )

    with pytest.raises(OllamaCacheIntegrityError, match=r"s3://b/k is corrupt or truncated: its .* hash to"):
        passed.extend(stream)

    assert sum(map(len, passed)) < len(DATA)
    assert mismatches == [True]


def test_a_source_that_ends_early_is_truncated() -> None:
    stream = VerifiedStream(chunks(DATA[:-1]), blob(), source="s3://b/k")

    with pytest.raises(OllamaCacheIntegrityError, match=f"ended after {len(DATA) - 1} of {len(DATA)} bytes"):
        stream.read()


def test_a_source_with_extra_bytes_fails_as_soon_as_they_arrive() -> None:
    stream = VerifiedStream(iter([DATA, b"extra", b"never read"]), blob(), source="s3://b/k")

    assert stream.read(len(DATA)) == DATA
    with pytest.raises(OllamaCacheIntegrityError, match="more than"):
        stream.read(1)
    assert stream.received == len(DATA) + len(b"extra")


def test_an_empty_blob_is_checked_too() -> None:
    assert VerifiedStream(iter([]), blob(b""), source="s3://b/k").read() == b""
    with pytest.raises(OllamaCacheIntegrityError):
        VerifiedStream(iter([]), blob(b"x"), source="s3://b/k").read()


def test_progress_sees_each_chunk_passed_on() -> None:
    seen: list[int] = []

    list(VerifiedStream(chunks(DATA, 4000), blob(), source="s3://b/k", progress=seen.append))

    assert seen == [4000, 4000, 2240]
