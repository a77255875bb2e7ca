"""Ollama's content-addressed model store on disk: digests, manifests, and their paths.

``<root>/manifests/<host>/<namespace>/<model>/<tag>`` holds a manifest's exact bytes and
``<root>/blobs/sha256-<hex>`` each layer and config blob. The S3 cache mirrors this layout, the
per-task server points ``OLLAMA_MODELS`` at it, and the emulator serves from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from airflow_provider_ollama.names import InvalidModelNameError, ModelName

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE_PREFIX = "application/vnd.ollama.image."

_DIGEST_RE = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")
_HASH_CHUNK = 1 << 20


class InvalidDigestError(ValueError):
    """Raised for a string that is not ``sha256:<64 hex>`` (or ``sha256-<64 hex>``)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"invalid digest format {digest!r}: expected 'sha256:' followed by 64 hex digits")


class InvalidManifestError(ValueError):
    """Raised for manifest bytes that are not a Docker v2 manifest Ollama could use."""


def is_valid_digest(digest: str) -> bool:
    """Whether ``digest`` is a sha256 digest in either of Ollama's spellings."""
    return _DIGEST_RE.match(digest) is not None


def normalize_digest(digest: str) -> str:
    """``sha256-ABC…`` or ``sha256:abc…`` -> ``sha256:abc…``."""
    match = _DIGEST_RE.match(digest)
    if match is None:
        raise InvalidDigestError(digest)
    return f"sha256:{match.group(1).lower()}"


def blob_filename(digest: str) -> str:
    """The file name a blob has in the store: ``sha256-<hex>``."""
    return normalize_digest(digest).replace(":", "-", 1)


def sha256_digest(data: bytes) -> str:
    """Digest of an in-memory byte string."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> tuple[str, int]:
    """Stream ``path`` through sha256; return ``(digest, size)`` with bounded memory."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


@dataclass(frozen=True)
class Descriptor:
    """One entry of a manifest: the config or a layer."""

    media_type: str
    digest: str
    size: int

    @property
    def kind(self) -> str:
        """``model``, ``template``, ``params``… for layers; ``config`` for the config blob."""
        if self.media_type.startswith(LAYER_MEDIA_TYPE_PREFIX):
            return self.media_type[len(LAYER_MEDIA_TYPE_PREFIX) :]
        return "config"


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest that remembers its exact bytes (its digest is the model's digest)."""

    raw: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            document = json.loads(raw)
            config = _descriptor(document["config"])
            layers = tuple(_descriptor(layer) for layer in document.get("layers") or [])
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidManifestError(f"not an Ollama manifest: {error}") from error
        return cls(raw=raw, config=config, layers=layers)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the manifest bytes."""
        return sha256_digest(self.raw)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Every blob the manifest needs: its layers, then the config."""
        return (*self.layers, self.config)

    @property
    def total_size(self) -> int:
        return sum(blob.size for blob in self.blobs)

    def layer(self, kind: str) -> Descriptor | None:
        """The first layer of a kind (``model``, ``template``…), if any."""
        return next((layer for layer in self.layers if layer.kind == kind), None)


def _descriptor(entry: Any) -> Descriptor:
    digest = str(entry["digest"])
    if not is_valid_digest(digest):
        raise InvalidDigestError(digest)
    return Descriptor(
        media_type=str(entry["mediaType"]), digest=normalize_digest(digest), size=int(entry["size"])
    )


class ModelStore:
    """The directory a server's ``OLLAMA_MODELS`` points at."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / blob_filename(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def blob_size(self, digest: str) -> int | None:
        """Size of the blob file (following a symlink), or None if there is none."""
        try:
            return self.blob_path(digest).stat().st_size
        except OSError:
            return None

    def manifest_path(self, name: ModelName) -> Path:
        """Where ``name``'s manifest is, or would be written (the existing spelling if it exists)."""
        return self.find_manifest(name) or self.manifests_dir.joinpath(*name.manifest_path.parts)

    def find_manifest(self, name: ModelName) -> Path | None:
        """The manifest file of ``name``, matching each path part case-insensitively as Ollama does."""
        directory = self.manifests_dir
        for part in name.manifest_path.parts:
            exact = directory / part
            if exact.exists():
                directory = exact
                continue
            if not directory.is_dir():
                return None
            folded = part.lower()
            match = next((entry for entry in directory.iterdir() if entry.name.lower() == folded), None)
            if match is None:
                return None
            directory = match
        return directory if directory.is_file() else None

    def read_manifest(self, name: ModelName) -> Manifest | None:
        path = self.find_manifest(name)
        if path is None:
            return None
        return Manifest.parse(path.read_bytes())

    def iter_manifests(self) -> Iterator[tuple[ModelName, Path]]:
        """Every well-named manifest file in the store (no checks on its blobs)."""
        if not self.manifests_dir.is_dir():
            return
        for path in sorted(self.manifests_dir.glob("*/*/*/*")):
            if not path.is_file():
                continue
            try:
                relative = PurePosixPath(*path.relative_to(self.manifests_dir).parts)
                yield ModelName.from_manifest_path(relative), path
            except InvalidModelNameError:
                continue

    def write_manifest(self, name: ModelName, raw: bytes) -> Path:
        """Write manifest bytes atomically (temp file + rename), so readers never see half of one."""
        target = self.manifest_path(name)
        atomic_write(target, raw)
        return target


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temp file in the same directory and ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
