"""Where a model cache lives in S3: the ``s3://bucket/prefix`` a user gives, and the keys under it.

The keys mirror Ollama's store (``blobs/sha256-<hex>``, ``manifests/<host>/<ns>/<model>/<tag>``) so an
entry can be copied to or from an ``OLLAMA_MODELS`` directory with any S3 tool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_ollama.exceptions import OllamaCacheError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import blob_filename

# S3's rules for new buckets: 3-63 characters, lowercase letters, digits, '.' and '-', starting and
# ending with a letter or digit. Checking here turns a typo into an error before any request is sent.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EXAMPLE = "s3://my-bucket/ollama-cache"


@dataclass(frozen=True)
class CacheLocation:
    """A bucket and a key prefix (without slashes at either end; empty for the bucket's root)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> CacheLocation:
        """Parse ``s3://bucket[/prefix]``; raise :class:`OllamaCacheError` saying what is wrong."""
        if not isinstance(url, str) or not url.startswith("s3://"):
            raise OllamaCacheError(
                f"invalid model cache location {url!r}: expected an S3 URL like {_EXAMPLE!r}"
            )
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise OllamaCacheError(
                f"invalid bucket name {bucket!r} in model cache location {url!r}: S3 bucket names have "
                f"3-63 lowercase letters, digits, '.' or '-', e.g. {_EXAMPLE!r}"
            )
        prefix = prefix.strip("/")
        segments = prefix.split("/") if prefix else []
        if any(segment in ("", ".", "..") for segment in segments):
            raise OllamaCacheError(
                f"invalid prefix {prefix!r} in model cache location {url!r}: use '/'-separated names "
                f"without empty, '.' or '..' parts, e.g. {_EXAMPLE!r}"
            )
        return cls(bucket=bucket, prefix=prefix)

    @property
    def url(self) -> str:
        """The location as ``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def __str__(self) -> str:
        return self.url

    def blob_key(self, digest: str) -> str:
        """Key of a blob: ``<prefix>/blobs/sha256-<hex>``."""
        return self._key(f"blobs/{blob_filename(digest)}")

    def manifest_key(self, name: ModelName) -> str:
        """Key of a model's manifest: ``<prefix>/manifests/<host>/<ns>/<model>/<tag>``.

        Parts are lower-cased: Ollama resolves names case-insensitively, and S3 keys are not, so
        ``Llama3.2:1B`` and ``llama3.2:1b`` must land on one entry.
        """
        return self._key("manifests/" + "/".join(name.key))

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative
