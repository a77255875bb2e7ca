"""Tests for airflow_provider_ollama.cache.hashing_writer: hashing a file while parts land out of order."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_ollama.cache.hashing_writer import HashingFileWriter

DATA = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    descriptor = os.open(tmp_path / "blob", os.O_RDWR | os.O_CREAT, 0o600)
    yield descriptor
    os.close(descriptor)


def write_part(writer: HashingFileWriter, start: int, end: int, chunk: int = 256 * 1024) -> None:
    """Write DATA[start:end] the way s3transfer does: seek, then write chunk by chunk."""
    writer.seek(start)
    for offset in range(start, end, chunk):
        writer.write(DATA[offset : min(offset + chunk, end)])


def test_parts_written_out_of_order_hash_like_the_whole_file(fd: int) -> None:
    parts = [(0, 1 << 20), (1 << 20, 2 << 20), (2 << 20, len(DATA))]

    with HashingFileWriter(fd) as writer:
        for start, end in reversed(parts):
            write_part(writer, start, end)
        assert writer.finish() == (DIGEST, len(DATA))

    assert os.pread(fd, len(DATA) + 1, 0) == DATA


def test_many_small_parts_in_random_order_hash_like_the_whole_file(fd: int) -> None:
    parts = [(start, min(start + 100_000, len(DATA))) for start in range(0, len(DATA), 100_000)]
    random.Random(3).shuffle(parts)

    with HashingFileWriter(fd) as writer:
        for start, end in parts:
            write_part(writer, start, end, chunk=30_000)
        assert writer.finish() == (DIGEST, len(DATA))


def test_a_missing_part_shows_as_a_short_size(fd: int) -> None:
    with HashingFileWriter(fd) as writer:
        write_part(writer, 0, 1 << 20)
        write_part(writer, 2 << 20, len(DATA))
        digest, size = writer.finish()

    assert size == 1 << 20
    assert digest == "sha256:" + hashlib.sha256(DATA[: 1 << 20]).hexdigest()


def test_a_retried_part_that_rewrites_its_bytes_still_hashes_once(fd: int) -> None:
    with HashingFileWriter(fd) as writer:
        write_part(writer, 0, 1 << 20)
        write_part(writer, 0, 1 << 19)  # the part was retried from its start
        write_part(writer, 1 << 20, len(DATA))
        assert writer.finish() == (DIGEST, len(DATA))


def test_hashing_keeps_up_while_writes_arrive_from_another_thread(fd: int) -> None:
    with HashingFileWriter(fd) as writer:
        thread = threading.Thread(target=write_part, args=(writer, 0, len(DATA), 4096))
        thread.start()
        thread.join(timeout=30)
        assert writer.finish() == (DIGEST, len(DATA))


def download_that_fails_midway(writer: HashingFileWriter) -> None:
    with writer:
        write_part(writer, 0, 1 << 20)
        raise ConnectionError("download failed")


def test_leaving_after_a_failed_download_stops_the_hashing_thread(fd: int) -> None:
    writer = HashingFileWriter(fd)

    with pytest.raises(ConnectionError):
        download_that_fails_midway(writer)

    assert not writer._thread.is_alive()


def test_writer_reports_seek_and_tell_like_a_file(fd: int) -> None:
    with HashingFileWriter(fd) as writer:
        assert writer.seekable()
        assert writer.seek(10) == 10
        writer.write(b"abc")
        assert writer.tell() == 13
        assert writer.seek(2, os.SEEK_CUR) == 15
        assert writer.seek(0, os.SEEK_END) == 13


def test_a_file_of_many_mib_written_in_odd_chunks_hashes_like_the_whole_file(fd: int) -> None:
    # Odd chunk sizes leave the hashed prefix at offsets that are not multiples of the read size.
    data = random.Random(11).randbytes(20 * 1024 * 1024 + 12345)
    with HashingFileWriter(fd) as writer:

        def write_all() -> None:
            for offset in range(0, len(data), 100_003):
                writer.write(data[offset : offset + 100_003])

        thread = threading.Thread(target=write_all)
        thread.start()
        thread.join(timeout=30)
        assert writer.finish() == ("sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def test_a_file_truncated_behind_the_writer_fails_instead_of_hashing_a_short_file(fd: int) -> None:
    writer = HashingFileWriter(fd)
    write_part(writer, 0, len(DATA))
    os.ftruncate(fd, 1024)

    with writer, pytest.raises(OSError, match="bytes written at offset"):
        writer.finish()
