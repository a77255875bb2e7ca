"""Manifest layers being assembled by ``/api/create``: stored blobs plus the status Ollama reports.

Mirrors Ollama's ``manifest.NewLayer`` (store new bytes, or reuse the blob if it exists) and
``NewLayerFromLayer`` (reuse a blob), including touching the blob so a start-up prune keeps it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_ollama.store import ModelStore, atomic_write, sha256_digest


@dataclass
class BuildLayer:
    """A layer of the manifest being built, with the status line announcing it."""

    media_type: str
    digest: str
    size: int
    status: str
    source: str = ""  # the manifest's ``from`` field
    gguf: dict[str, Any] | None = None  # GGUF metadata, for model/adapter/projector layers
    parameters: int = 0  # parameter count from the GGUF tensor shapes
    uploaded: bool = False  # a GGUF from ``files``: Ollama rewrites it (``rewriteForCreate``)

    def document(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, "from": self.source}


def _touch(store: ModelStore, digest: str) -> None:
    os.utime(store.blob_path(digest))


def new_layer(store: ModelStore, data: bytes, media_type: str) -> BuildLayer:
    """Store ``data`` as a blob unless it already exists, and say which happened."""
    digest = sha256_digest(data)
    path = store.blob_path(digest)
    status = "using existing layer"
    if not path.exists():
        status = "creating new layer"
        atomic_write(path, data)
    _touch(store, digest)
    return BuildLayer(media_type, digest, len(data), f"{status} {digest}")


def new_layer_from_chunks(store: ModelStore, chunks: Iterable[bytes], media_type: str) -> BuildLayer:
    """:func:`new_layer` for content produced piece by piece (hashed while written to a temp file)."""
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=store.blobs_dir, prefix="sha256-")
    hasher = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                hasher.update(chunk)
                handle.write(chunk)
                size += len(chunk)
        digest = "sha256:" + hasher.hexdigest()
        path = store.blob_path(digest)
        status = "using existing layer"
        if not path.exists():
            status = "creating new layer"
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)
    _touch(store, digest)
    return BuildLayer(media_type, digest, size, f"{status} {digest}")


def existing_layer(store: ModelStore, digest: str, media_type: str, source: str) -> BuildLayer:
    """Reuse a blob already in the store (``FileNotFoundError`` if it is not)."""
    size = store.blob_path(digest).stat().st_size
    _touch(store, digest)
    return BuildLayer(media_type, digest, size, f"using existing layer {digest}", source=source)
