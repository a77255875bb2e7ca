"""Tests for airflow_provider_ollama.cache.host_cache: one verified download per host, then links."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.cache import HostBlobCache, S3ModelCache
from airflow_provider_ollama.exceptions import OllamaCacheError, OllamaCacheIntegrityError
from airflow_provider_ollama.store import Descriptor, Manifest, ModelStore, atomic_write, sha256_digest
from tests.cache.local_models import store_files, stray_temp_files, weights, write_model
from tests.cache.support import BUCKET, run_in_spawned_workers
from tests.cache.workers import restore_through_host_cache
from tests.support.moto_s3 import S3CallLog

MODEL = "llama3.2:1b"
DATA = b"verified blob bytes"
BLOB = Descriptor(media_type="application/vnd.ollama.image.model", digest=sha256_digest(DATA), size=len(DATA))


class RecordingFetch:
    """A fetch callback that writes the blob atomically and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path) -> None:
        self.calls += 1
        atomic_write(path, DATA)


@pytest.fixture
def host_cache(tmp_path: Path) -> HostBlobCache:
    return HostBlobCache(tmp_path / "host-cache")


@pytest.fixture
def other_filesystem() -> Iterator[Path]:
    """A directory on tmpfs, another filesystem than the test's tmp_path (so no hard links)."""
    shm = Path("/dev/shm")
    assert shm.is_dir(), "this test needs /dev/shm (a tmpfs) to place a directory on another filesystem"
    directory = Path(tempfile.mkdtemp(dir=shm, prefix="host-cache-test-"))
    yield directory
    shutil.rmtree(directory)


def test_ensure_fetches_a_blob_once(host_cache: HostBlobCache) -> None:
    fetch = RecordingFetch()

    assert host_cache.ensure(BLOB, fetch) is True
    assert host_cache.ensure(BLOB, fetch) is False
    assert fetch.calls == 1
    assert host_cache.blob_path(BLOB.digest).read_bytes() == DATA


def test_install_hard_links_the_cached_blob_into_a_store(host_cache: HostBlobCache, tmp_path: Path) -> None:
    target = ModelStore(tmp_path / "store").blob_path(BLOB.digest)

    outcome = host_cache.install(BLOB, target, RecordingFetch())

    assert (outcome.fetched, outcome.link) == (True, "hardlink")
    assert target.stat().st_ino == host_cache.blob_path(BLOB.digest).stat().st_ino
    assert stray_temp_files(target.parent) == []


def test_install_replaces_a_wrong_blob_at_the_target(host_cache: HostBlobCache, tmp_path: Path) -> None:
    target = ModelStore(tmp_path / "store").blob_path(BLOB.digest)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")

    host_cache.install(BLOB, target, RecordingFetch())

    assert target.read_bytes() == DATA


def test_install_symlinks_across_filesystems(other_filesystem: Path, tmp_path: Path) -> None:
    host_cache = HostBlobCache(other_filesystem)
    target = ModelStore(tmp_path / "store").blob_path(BLOB.digest)

    outcome = host_cache.install(BLOB, target, RecordingFetch())

    assert outcome.link == "symlink"
    assert target.is_symlink()
    assert target.read_bytes() == DATA


def test_install_copies_where_neither_kind_of_link_is_allowed(
    host_cache: HostBlobCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_cache.ensure(BLOB, RecordingFetch())
    target = ModelStore(tmp_path / "store").blob_path(BLOB.digest)

    def refuse(*_args: Any) -> None:
        raise OSError(errno.EPERM, "links not permitted on this filesystem")

    monkeypatch.setattr(os, "link", refuse)
    monkeypatch.setattr(os, "symlink", refuse)

    assert host_cache.link_into(BLOB, target) == "copy"
    assert target.read_bytes() == DATA
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_fetch_leaves_nothing_in_the_host_cache(host_cache: HostBlobCache) -> None:
    def failing_fetch(path: Path) -> None:
        raise OllamaCacheIntegrityError("corrupt")

    with pytest.raises(OllamaCacheIntegrityError):
        host_cache.ensure(BLOB, failing_fetch)

    assert not host_cache.has(BLOB)
    assert stray_temp_files(host_cache.root) == []


def test_a_host_cache_others_can_write_is_refused(host_cache: HostBlobCache) -> None:
    host_cache.root.mkdir()
    host_cache.root.chmod(0o777)

    with pytest.raises(OllamaCacheError, match="writable by nobody else"):
        host_cache.ensure(BLOB, RecordingFetch())


def test_a_new_host_cache_is_private_to_its_user(host_cache: HostBlobCache) -> None:
    host_cache.ensure(BLOB, RecordingFetch())

    assert host_cache.root.stat().st_mode & 0o777 == 0o700


# --- with S3 -------------------------------------------------------------------------------------


@pytest.fixture
def saved_model(cache: S3ModelCache, source_store: ModelStore) -> Manifest:
    manifest = write_model(source_store, MODEL, weights(12 << 20))
    cache.save(source_store, MODEL)
    return manifest


def test_a_second_restore_on_the_host_links_instead_of_downloading(
    saved_model: Manifest,
    cache: S3ModelCache,
    host_cache: HostBlobCache,
    source_store: ModelStore,
    tmp_path: Path,
    s3_calls: S3CallLog,
) -> None:
    first_store, second_store = ModelStore(tmp_path / "task-1"), ModelStore(tmp_path / "task-2")
    first = cache.restore(first_store, MODEL, host_cache=host_cache)
    s3_calls.clear()

    second = cache.restore(second_store, MODEL, host_cache=host_cache)

    assert first.blobs_downloaded == len(saved_model.blobs)
    assert (second.blobs_downloaded, second.blobs_from_host_cache) == (0, len(saved_model.blobs))
    assert second.bytes_from_host_cache == saved_model.total_size
    assert [call.operation for call in s3_calls] == ["GetObject"]  # the manifest only
    for blob in saved_model.blobs:
        inode = second_store.blob_path(blob.digest).stat().st_ino
        assert inode == first_store.blob_path(blob.digest).stat().st_ino
        assert inode == host_cache.blob_path(blob.digest).stat().st_ino
    assert store_files(second_store.root) == store_files(source_store.root)


def test_a_corrupt_cached_blob_never_enters_the_host_cache(
    saved_model: Manifest,
    cache: S3ModelCache,
    host_cache: HostBlobCache,
    target_store: ModelStore,
    s3_client: Any,
) -> None:
    layer = saved_model.layers[0]
    key = f"team/models/blobs/sha256-{layer.digest.removeprefix('sha256:')}"
    metadata = s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=b"\1" * layer.size, Metadata=metadata)

    with pytest.raises(OllamaCacheIntegrityError):
        cache.restore(target_store, MODEL, host_cache=host_cache)

    assert not host_cache.has(layer)
    assert stray_temp_files(host_cache.root) == []
    assert not target_store.blob_path(layer.digest).exists()


def test_concurrent_restores_on_one_host_download_each_blob_once(
    saved_model: Manifest, make_cache: Callable[..., S3ModelCache], host_cache: HostBlobCache, tmp_path: Path
) -> None:
    cache = make_cache()
    cache_kwargs = {
        "location": cache.location.url,
        "aws_conn_id": cache.aws_conn_id,
        "transfer_config_args": {"multipart_threshold": 5 << 20, "multipart_chunksize": 5 << 20},
    }
    stores = [tmp_path / f"task-{index}" for index in range(3)]

    reports = run_in_spawned_workers(
        restore_through_host_cache,
        [(cache_kwargs, str(store), str(host_cache.root), MODEL) for store in stores],
    )

    assert all(report["status"] == "hit" for report in reports)
    assert sum(report["blobs_downloaded"] for report in reports) == len(saved_model.blobs)
    for blob in saved_model.blobs:
        inodes = {ModelStore(store).blob_path(blob.digest).stat().st_ino for store in stores}
        assert inodes == {host_cache.blob_path(blob.digest).stat().st_ino}
