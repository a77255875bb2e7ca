"""The cache's objects at one S3 location: where each blob is, whether S3's copy can be trusted.

Saving, restoring, mirroring from a registry and rebuilding on a shared server all read and write blobs
through one :class:`CacheObjects`, so a blob one of them found corrupt is overwritten by the next save.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_ollama.cache.bucket import CacheBucket, ObjectInfo
from airflow_provider_ollama.cache.location import CacheLocation
from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError
from airflow_provider_ollama.store import Descriptor

#: The end of every message about a bad cache entry.
REPAIR_HINT = "pull the model from its registry and save it again to repair the cache entry"


class CacheObjects:
    """The blobs and manifests under one :class:`CacheLocation`, and the digests found corrupt there."""

    def __init__(self, location: CacheLocation, bucket: CacheBucket) -> None:
        self.location = location
        self.bucket = bucket
        # Digests whose S3 copy was found corrupt: the next save overwrites them even when their size
        # and metadata look right.
        self._suspect_digests: set[str] = set()

    def blob_url(self, digest: str) -> str:
        """``s3://bucket/<prefix>/blobs/sha256-<hex>``, for messages."""
        return f"s3://{self.location.bucket}/{self.location.blob_key(digest)}"

    def check_cached_blobs(self, blobs: Iterable[Descriptor]) -> None:
        """HEAD each blob in S3; raise :class:`OllamaCacheIntegrityError` for one missing or of the wrong size.

        Run before downloading anything, so an incomplete or truncated entry fails in milliseconds
        instead of after gigabytes. A blob whose sha256 metadata disagrees is corrupt as well.
        """
        for blob in blobs:
            self._check_cached_blob(blob, self.bucket.head(self.location.blob_key(blob.digest)))

    def cached_blob(self, blob: Descriptor) -> tuple[ObjectInfo | None, bool]:
        """What S3 holds under ``blob``'s key, and whether it can stay (size and sha256 metadata match,
        and no restore found it corrupt): a save uploads the blob unless it can."""
        info = self.bucket.head(self.location.blob_key(blob.digest))
        usable = info is not None and blob.digest not in self._suspect_digests and matches(info, blob)
        return info, usable

    def mark_corrupt(self, digest: str) -> None:
        """Remember that S3's copy of ``digest`` is bad, so that the next save overwrites it."""
        self._suspect_digests.add(digest)

    def mark_repaired(self, digest: str) -> None:
        """S3's copy of ``digest`` was just written from verified bytes."""
        self._suspect_digests.discard(digest)

    def _check_cached_blob(self, blob: Descriptor, info: ObjectInfo | None) -> None:
        where = self.blob_url(blob.digest)
        if info is None:
            raise OllamaCacheIntegrityError(
                f"cache entry is incomplete: {blob.kind} blob {where} is missing; {REPAIR_HINT}"
            )
        if info.size != blob.size or (info.sha256 is not None and info.sha256 != sha256_hex(blob.digest)):
            self.mark_corrupt(blob.digest)
            raise OllamaCacheIntegrityError(
                f"cached {blob.kind} blob {where} is corrupt or truncated: {info.size} bytes with sha256 "
                f"metadata {info.sha256}, the manifest says {blob.size} bytes with {blob.digest}; it was "
                f"not installed; {REPAIR_HINT}"
            )


def matches(cached: ObjectInfo, blob: Descriptor) -> bool:
    """Whether S3's object has ``blob``'s size and, when it records one, its sha256."""
    return cached.size == blob.size and cached.sha256 in (None, sha256_hex(blob.digest))


def sha256_hex(digest: str) -> str:
    """The hex part of ``sha256:<hex>`` (as S3's ``x-amz-meta-sha256`` holds it)."""
    return digest.split(":", 1)[1]
