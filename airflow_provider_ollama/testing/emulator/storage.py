"""Housekeeping of the on-disk store: which blobs are in use, removal, start-up prune and blob renames.

Ollama deletes a blob only when no manifest names it any more (delete, re-pull, re-create) and, at
start, sweeps old unreferenced blobs and leftovers; tests of caches and restores depend on exactly
when files disappear.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from airflow_provider_ollama.store import (
    InvalidDigestError,
    InvalidManifestError,
    Manifest,
    ModelStore,
    blob_filename,
    is_valid_digest,
)

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")
#: Unreferenced blobs younger than this survive the start-up prune (they may be mid-restore).
PRUNE_MIN_AGE_S = 3600.0


class CorruptManifestError(Exception):
    """A manifest that does not parse; start-up pruning is skipped while one exists, as in Ollama."""


def referenced_digests(store: ModelStore, *, strict: bool = False) -> set[str]:
    """Digests of every blob some manifest names (layers and configs).

    With ``strict``, a manifest that cannot be read raises :class:`CorruptManifestError`;
    otherwise it is skipped (and so protects nothing).
    """
    digests: set[str] = set()
    for _, path in store.iter_manifests():
        try:
            manifest = Manifest.parse(path.read_bytes())
        except (OSError, InvalidManifestError, InvalidDigestError) as error:
            if strict:
                raise CorruptManifestError(f"{path}: {error}") from error
            continue
        digests.update(blob.digest for blob in manifest.blobs)
    return digests


def remove_manifest(store: ModelStore, path: Path) -> None:
    """Delete one manifest file and the directories it leaves empty."""
    path.unlink(missing_ok=True)
    prune_empty_directories(store.manifests_dir, keep_root=True)


def remove_unreferenced_blobs(store: ModelStore, candidates: Iterable[str]) -> int:
    """Delete those of ``candidates`` that no manifest names any more; return how many went."""
    in_use = referenced_digests(store)
    removed = 0
    for digest in dict.fromkeys(candidates):
        if digest in in_use:
            continue
        with contextlib.suppress(FileNotFoundError):
            store.blob_path(digest).unlink()
            removed += 1
    return removed


def prune_empty_directories(root: Path, *, keep_root: bool) -> None:
    """Remove empty directories below ``root`` (not following symlinks), deepest first."""
    if not root.is_dir() or root.is_symlink():
        return
    for directory, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        if keep_root and Path(directory) == root:
            continue
        with contextlib.suppress(OSError):
            Path(directory).rmdir()


def fix_blob_names(store: ModelStore) -> int:
    """Rename legacy ``sha256:<hex>`` blob files to ``sha256-<hex>`` (Ollama's ``fixBlobs``)."""
    if not store.blobs_dir.is_dir():
        return 0
    renamed = 0
    for entry in store.blobs_dir.iterdir():
        if entry.name.startswith("sha256:"):
            entry.rename(entry.with_name(entry.name.replace(":", "-", 1)))
            renamed += 1
    return renamed


def prune_store(store: ModelStore, *, min_age_seconds: float = PRUNE_MIN_AGE_S) -> int:
    """Start-up prune: delete unreferenced or badly named blob files older than ``min_age_seconds``
    and empty manifest directories. Skipped (returns 0) while a manifest is corrupt."""
    try:
        in_use = referenced_digests(store, strict=True)
    except CorruptManifestError as error:
        _log.warning(
            "corrupt manifests detected, skipping prune operation. Re-pull or delete to clear: %s", error
        )
        return 0
    removed = 0
    cutoff = time.time() - min_age_seconds
    if store.blobs_dir.is_dir():
        for entry in store.blobs_dir.iterdir():
            name = entry.name
            referenced = is_valid_digest(name) and blob_filename(name) == name and _digest_of(name) in in_use
            if referenced or (not entry.is_file() and not entry.is_symlink()):
                continue
            with contextlib.suppress(OSError):
                if entry.lstat().st_mtime <= cutoff:
                    entry.unlink()
                    removed += 1
    prune_empty_directories(store.manifests_dir, keep_root=True)
    return removed


def _digest_of(filename: str) -> str:
    return filename.replace("-", ":", 1)
