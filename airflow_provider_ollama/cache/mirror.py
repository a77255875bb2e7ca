"""Fill the cache straight from a registry, for servers whose store the task cannot read (shared ones).

Each blob the cache lacks is read from the registry once and streamed on into S3, its size and sha256
checked on the way; the manifest's exact bytes go last. The server then gets the model from S3 like any
other restore, so no Ollama server downloads it from the registry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_ollama.cache.progress import TransferProgress
from airflow_provider_ollama.cache.registry import RegistryReader, RegistryReadError
from airflow_provider_ollama.cache.reports import SaveReport
from airflow_provider_ollama.cache.streams import VerifiedStream
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE, Descriptor, InvalidManifestError, Manifest

if TYPE_CHECKING:
    from airflow_provider_ollama.cache.s3 import S3ModelCache

log = logging.getLogger(__name__)


def copy_from_registry(
    cache: S3ModelCache, model: ModelName, report: SaveReport, *, insecure: bool
) -> Manifest:
    """Copy ``model`` from its registry into ``cache``, counting into ``report``; return its manifest."""
    with RegistryReader(model, insecure=insecure) as registry:
        raw = registry.manifest()
        try:
            manifest = Manifest.parse(raw)
        except InvalidManifestError as error:
            raise RegistryReadError(
                f"the registry {registry.base_url} sent an unreadable manifest for "
                f"{model.display_shortest()} ({error})"
            ) from error
        for blob in {blob.digest: blob for blob in manifest.blobs}.values():
            cached, usable = cache.cached_blob(blob)
            if usable:
                report.blobs_already_cached += 1
                continue
            _copy_blob(cache, registry, blob)
            report.blobs_uploaded += 1
            report.bytes_uploaded += blob.size
            if cached is not None:
                report.blobs_repaired += 1
        # Last: the manifest is what makes the entry visible.
        cache.bucket.put_bytes(
            cache.location.manifest_key(model),
            raw,
            sha256=manifest.digest.removeprefix("sha256:"),
            content_type=MANIFEST_MEDIA_TYPE,
        )
    return manifest


def _copy_blob(cache: S3ModelCache, registry: RegistryReader, blob: Descriptor) -> None:
    progress = TransferProgress(log, "mirroring", f"{blob.kind} blob {blob.digest[:19]}", blob.size)
    with registry.open_blob(blob.digest) as chunks:
        stream = VerifiedStream(chunks, blob, source=registry.blob_url(blob.digest))
        cache.bucket.upload_stream(
            stream,
            cache.location.blob_key(blob.digest),
            size=blob.size,
            sha256=blob.digest.removeprefix("sha256:"),
            progress=progress,
        )
    cache.mark_repaired(blob.digest)
