"""Tests for airflow_provider_ollama.store helpers."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_ollama.store import ModelStore, sha256_digest


def test_blob_size_is_none_for_a_missing_or_dangling_blob(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    digest = sha256_digest(b"weights")
    assert store.blob_size(digest) is None
    store.blobs_dir.mkdir()
    os.symlink(tmp_path / "gone", store.blob_path(digest))
    assert store.blob_size(digest) is None


def test_blob_size_follows_a_symlink_to_the_blob(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    digest = sha256_digest(b"weights")
    (tmp_path / "elsewhere").write_bytes(b"weights")
    store.blobs_dir.mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere", store.blob_path(digest))
    assert store.blob_size(digest) == len(b"weights")
