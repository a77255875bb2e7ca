"""Blobs below the multipart threshold: one GET streamed into the file, resumed after a broken connection.

The network faults are real: a TCP proxy in front of moto's server closes the connection midway through
an answer, and botocore sees a response that ends before its Content-Length. The unit tests at the end
drive ``stream_to_file`` with in-memory bodies, for what a server cannot be made to do on cue.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.cache.streamed_download import _QUEUE_DEPTH, CHUNK_SIZE, stream_to_file
from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError, OllamaCacheUnavailableError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest, ModelStore
from tests.cache.local_models import store_files, stray_temp_files, weights, write_model
from tests.cache.support import BUCKET, SMALL_PARTS, replace_object
from tests.cache.test_bucket import assert_names_bucket_and_connection_only
from tests.support.cutting_proxy import CuttingProxy, cutting_proxy
from tests.support.moto_s3 import S3CallLog, aws_connection_json

MODEL = "phi3:mini"
PROXIED_CONN_ID = "model_cache_through_proxy"
#: Below SMALL_PARTS' 5 MiB threshold, so the model layer arrives in one GET.
SINGLE_GET_SIZE = 3 << 20
CUT_AFTER = 1 << 20


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[CuttingProxy]:
    with cutting_proxy(s3_endpoint) as proxy:
        yield proxy


@pytest.fixture
def make_proxied_cache(
    proxy: CuttingProxy, make_cache: Callable[..., S3ModelCache], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., S3ModelCache]:
    """Caches whose aws connection reaches moto through the proxy."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{PROXIED_CONN_ID.upper()}", aws_connection_json(proxy.endpoint))
    return lambda **kwargs: make_cache(aws_conn_id=PROXIED_CONN_ID, **kwargs)


@pytest.fixture
def saved_model(cache: S3ModelCache, source_store: ModelStore) -> Manifest:
    manifest = write_model(source_store, MODEL, weights(SINGLE_GET_SIZE))
    cache.save(source_store, MODEL)
    return manifest


def layer_gets(calls: S3CallLog, cache: S3ModelCache, manifest: Manifest) -> list[str | None]:
    """The Range of each GET of the model layer, in order (None: the whole object)."""
    key = cache.location.blob_key(manifest.layers[0].digest)
    return [call.range for call in calls.operations("GetObject") if call.key == key]


def range_start(value: str | None) -> int:
    """The first byte of a ``bytes=<start>-[<end>]`` Range (a GET without one fails the test)."""
    assert value is not None
    assert value.startswith("bytes="), value
    return int(value.removeprefix("bytes=").split("-")[0])


def assert_nothing_installed(store: ModelStore, manifest: Manifest) -> None:
    assert not store.blob_path(manifest.layers[0].digest).exists()
    assert store.find_manifest(ModelName.parse(MODEL)) is None
    assert stray_temp_files(store.root) == []


# --- through moto's server -------------------------------------------------------------------------


def test_a_blob_below_the_threshold_comes_in_one_get_and_a_bigger_one_in_ranged_parts(
    cache: S3ModelCache, source_store: ModelStore, target_store: ModelStore, s3_calls: S3CallLog
) -> None:
    small = write_model(source_store, "small:1", weights(SINGLE_GET_SIZE))
    big = write_model(source_store, "big:1", weights(12 << 20, seed=1))
    cache.save(source_store, "small:1")
    cache.save(source_store, "big:1")
    s3_calls.clear()

    cache.restore(target_store, "small:1")
    cache.restore(target_store, "big:1")

    assert layer_gets(s3_calls, cache, small) == [None]
    big_gets = layer_gets(s3_calls, cache, big)
    assert sorted(range_start(value) for value in big_gets) == [0, 5 << 20, 10 << 20]
    assert store_files(target_store.root) == store_files(source_store.root)


def test_a_corrupt_blob_below_the_threshold_is_not_installed(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore, s3_client: Any
) -> None:
    key = cache.location.blob_key(saved_model.layers[0].digest)
    replace_object(s3_client, key, weights(SINGLE_GET_SIZE, seed=9))

    with pytest.raises(OllamaCacheIntegrityError, match="corrupt"):
        cache.restore(target_store, MODEL)

    assert_nothing_installed(target_store, saved_model)


def test_a_connection_cut_midway_resumes_from_the_first_missing_byte(
    saved_model: Manifest,
    make_proxied_cache: Callable[..., S3ModelCache],
    proxy: CuttingProxy,
    source_store: ModelStore,
    target_store: ModelStore,
    s3_calls: S3CallLog,
) -> None:
    cache = make_proxied_cache()
    proxy.cut(after_bytes=CUT_AFTER)

    report = cache.restore(target_store, MODEL)

    assert report.hit
    assert proxy.cuts == 1
    first, resumed = layer_gets(s3_calls, cache, saved_model)
    assert first is None
    assert resumed is not None
    assert resumed.endswith("-")
    start = range_start(resumed)
    assert 0 < start < CUT_AFTER  # the headers took some of the bytes before the cut
    assert store_files(target_store.root) == store_files(source_store.root)


def test_a_connection_cut_on_every_attempt_fails_naming_bucket_and_connection(
    saved_model: Manifest,
    make_proxied_cache: Callable[..., S3ModelCache],
    proxy: CuttingProxy,
    target_store: ModelStore,
    s3_calls: S3CallLog,
) -> None:
    cache = make_proxied_cache(transfer_config_args={**SMALL_PARTS, "num_download_attempts": 2})
    proxy.cut(after_bytes=CUT_AFTER, times=10)

    with pytest.raises(OllamaCacheUnavailableError, match="cannot download") as raised:
        cache.restore(target_store, MODEL)

    assert proxy.cuts == 2
    assert len(layer_gets(s3_calls, cache, saved_model)) == 2
    assert_names_bucket_and_connection_only(raised.value, BUCKET, PROXIED_CONN_ID)
    assert_nothing_installed(target_store, saved_model)


def test_an_object_replaced_before_the_resume_is_never_joined_to_the_old_bytes(
    saved_model: Manifest,
    make_proxied_cache: Callable[..., S3ModelCache],
    proxy: CuttingProxy,
    target_store: ModelStore,
    s3_client: Any,
) -> None:
    cache = make_proxied_cache()
    key = cache.location.blob_key(saved_model.layers[0].digest)

    def replace() -> None:
        s3_client.put_object(Bucket=BUCKET, Key=key, Body=weights(SINGLE_GET_SIZE, seed=5))

    proxy.cut(after_bytes=CUT_AFTER, on_cut=replace)

    with pytest.raises(OllamaCacheIntegrityError, match="replaced while it was being downloaded") as raised:
        cache.restore(target_store, MODEL)

    assert key in str(raised.value)
    assert_nothing_installed(target_store, saved_model)


# --- stream_to_file on its own ---------------------------------------------------------------------


class Body(io.BytesIO):
    """A response body that breaks with ``error`` once ``break_at`` bytes have been read."""

    def __init__(self, data: bytes, *, break_at: int | None = None, error: BaseException | None = None):
        super().__init__(data)
        self._break_at = break_at
        self._error = error
        #: The furthest position read, still known once the body is closed.
        self.reached = 0

    def read(self, amt: int | None = -1, /) -> bytes:
        if self._break_at is not None and self.tell() >= self._break_at:
            assert self._error is not None
            raise self._error
        if self._break_at is not None and amt is not None and amt >= 0:
            amt = min(amt, self._break_at - self.tell())
        data = super().read(amt)
        self.reached = self.tell()
        return data


@dataclass
class Response:
    body: Body
    etag: str | None


class Server:
    """Answers each GET from ``start`` with the next body in ``bodies``, recording starts and ETags."""

    def __init__(self, bodies: list[Body]) -> None:
        self.bodies = bodies
        self.requests: list[tuple[int, str | None]] = []

    def open_range(self, start: int, etag: str | None) -> Response:
        self.requests.append((start, etag))
        body = self.bodies[len(self.requests) - 1]
        body.seek(start)
        return Response(body, '"v1"')


@pytest.fixture
def blob_file(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An empty file to download into, and its descriptor (closed after the test)."""
    path = tmp_path / "blob"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    yield path, fd
    os.close(fd)


def data_of(size: int) -> bytes:
    return weights(size, seed=3)


def test_a_retryable_error_resumes_where_the_bytes_stopped(blob_file: tuple[Path, int]) -> None:
    data = data_of(5 * CHUNK_SIZE + 123)
    cut = 2 * CHUNK_SIZE + 7
    server = Server([Body(data, break_at=cut, error=ConnectionError("reset")), Body(data)])
    path, fd = blob_file

    digest, size = stream_to_file(server.open_range, fd, attempts=3, retryable=(ConnectionError,))

    assert server.requests == [(0, None), (cut, '"v1"')]
    assert (digest, size) == ("sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    assert path.read_bytes() == data


def test_errors_that_are_not_retryable_propagate_after_one_request(blob_file: tuple[Path, int]) -> None:
    data = data_of(3 * CHUNK_SIZE)
    server = Server([Body(data, break_at=CHUNK_SIZE, error=ValueError("bad"))])

    with pytest.raises(ValueError, match="bad"):
        stream_to_file(server.open_range, blob_file[1], attempts=3, retryable=(ConnectionError,))

    assert len(server.requests) == 1
    assert not writer_threads()


def test_the_last_attempts_error_propagates(blob_file: tuple[Path, int]) -> None:
    data = data_of(3 * CHUNK_SIZE)
    bodies = [
        Body(data, break_at=(n + 1) * CHUNK_SIZE // 2, error=ConnectionError(f"cut {n}")) for n in range(3)
    ]
    server = Server(bodies)

    with pytest.raises(ConnectionError, match="cut 2"):
        stream_to_file(server.open_range, blob_file[1], attempts=3, retryable=(ConnectionError,))

    assert [start for start, _ in server.requests] == [0, CHUNK_SIZE // 2, CHUNK_SIZE]


def test_a_failing_write_stops_the_download_within_a_few_chunks(tmp_path: Path) -> None:
    data = data_of(32 * CHUNK_SIZE)
    body = Body(data)
    read_only = os.open(tmp_path / "blob", os.O_RDONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="Bad file descriptor") as raised:
            stream_to_file(lambda start, etag: Response(body, None), read_only, attempts=1, retryable=())
    finally:
        os.close(read_only)

    assert raised.value.errno == errno.EBADF
    # Chunks read before the reader learns of the failure: the queue's, the one being written, the
    # one waiting to be queued and the one in hand.
    assert body.reached <= (_QUEUE_DEPTH + 3) * CHUNK_SIZE
    assert not writer_threads()


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ollama-cache-writer"]
