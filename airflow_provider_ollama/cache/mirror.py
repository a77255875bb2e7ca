"""Fill the cache straight from a registry, for servers whose store the task cannot read (shared ones).

Each blob the cache lacks is read from the registry once and streamed on into S3, its size and sha256
checked on the way; the manifest's exact bytes go last. The server then gets the model from S3 like any
other restore, so no Ollama server downloads it from the registry.
"""

from __future__ import annotations

import logging

from airflow_provider_ollama.cache.objects import CacheObjects
from airflow_provider_ollama.cache.progress import TransferProgress
from airflow_provider_ollama.cache.registry import RegistryReader, RegistryReadError
from airflow_provider_ollama.cache.reports import SaveReport
from airflow_provider_ollama.cache.streams import VerifiedStream
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE, Descriptor, InvalidManifestError, Manifest

log = logging.getLogger(__name__)


def copy_from_registry(
    objects: CacheObjects, model: ModelName, report: SaveReport, *, insecure: bool
) -> Manifest:
    """Copy ``model`` from its registry into the cache's ``objects``, counting into ``report``; return the manifest."""
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
            cached, usable = objects.cached_blob(blob)
            if usable:
                report.blobs_already_cached += 1
                continue
            _copy_blob(objects, registry, blob)
            report.blobs_uploaded += 1
            report.bytes_uploaded += blob.size
            if cached is not None:
                report.blobs_repaired += 1
        # Last: the manifest is what makes the entry visible.
        objects.bucket.put_bytes(
            objects.location.manifest_key(model),
            raw,
            sha256=manifest.digest.removeprefix("sha256:"),
            content_type=MANIFEST_MEDIA_TYPE,
        )
    return manifest


def _copy_blob(objects: CacheObjects, registry: RegistryReader, blob: Descriptor) -> None:
    progress = TransferProgress(log, "mirroring", f"{blob.kind} blob {blob.digest[:19]}", blob.size)
    with registry.open_blob(blob.digest) as chunks:
        stream = VerifiedStream(chunks, blob, source=registry.blob_url(blob.digest))
        objects.bucket.upload_stream(
            stream,
            objects.location.blob_key(blob.digest),
            size=blob.size,
            sha256=blob.digest.removeprefix("sha256:"),
            progress=progress,
        )
    objects.mark_repaired(blob.digest)
