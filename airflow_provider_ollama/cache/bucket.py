"""The cache's bucket, reached through the Amazon provider's S3Hook with settings for big blobs.

One place owns every S3 call: it builds a client that fails in seconds when the endpoint is down,
tunes multipart transfers, and turns botocore's errors into typed cache errors that name the bucket
and the Airflow connection (never credentials). The Amazon provider is imported on first use only.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_ollama.cache.hashing_writer import HashingFileWriter
from airflow_provider_ollama.cache.streamed_download import ResponseBody, stream_to_file
from airflow_provider_ollama.exceptions import (
    OllamaCacheError,
    OllamaCacheIntegrityError,
    OllamaCacheUnavailableError,
)

INSTALL_HINT = "pip install 'airflow-provider-ollama[amazon]'"

#: Transfer settings for multi-GiB blobs. Parts of 64 MiB keep a 2 GiB model at 32 requests and a
#: few in flight at once saturate a worker's link without much memory; the connection's
#: ``service_config.s3.transfer_config_args`` and the cache's ``transfer_config_args`` override them.
DEFAULT_TRANSFER_CONFIG_ARGS: Mapping[str, Any] = {
    "multipart_threshold": 64 << 20,
    "multipart_chunksize": 64 << 20,
    "max_concurrency": 8,
    # s3transfer queues downloaded chunks (256 KiB each) for its single writer thread, which also
    # hashes; 16 of them bound that buffer at 4 MiB (measured: Python's peak during a parallel restore
    # falls from 20 MiB with s3transfer's default of 100 to 6 MiB, at no cost in throughput).
    "max_io_queue": 16,
}

#: Streamed uploads (no file to re-read a part from) hold each part in memory until it is sent: parts of
#: at least 8 MiB, at most this many of them in memory at once, bound that to about 32 MiB per upload.
_STREAM_PART_MIN = 8 << 20
_STREAM_PARTS_IN_MEMORY = 4
#: S3 allows 10,000 parts per upload; a margin below that leaves room for rounding.
_MAX_PARTS = 9_000
#: Chunks of streamed downloads: small enough to keep memory flat, big enough to keep calls few.
STREAM_CHUNK_SIZE = 1 << 20

#: botocore settings so that a dead endpoint or a black-holed address fails within seconds, not
#: minutes; anything set in the connection's ``config_kwargs`` wins over these.
_CLIENT_CONFIG_ARGS: Mapping[str, Any] = {
    "connect_timeout": 5,
    "read_timeout": 60,
    "retries": {"mode": "standard", "total_max_attempts": 3},
}

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
#: What S3 answers when an ``If-Match`` ETag no longer matches: the object was overwritten.
_CHANGED_CODES = frozenset({"412", "PreconditionFailed"})
_DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)


class Readable(Protocol):
    """What a streamed upload reads from: ``read(n)`` until it returns ``b""``."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD request says about an object."""

    size: int
    #: Hex sha256 from the object's ``x-amz-meta-sha256``, if the writer set it.
    sha256: str | None


@dataclass(frozen=True)
class _RangeResponse:
    """A GET's body and the ETag of the object version it reads."""

    body: ResponseBody
    etag: str | None


class CacheBucket:
    """S3 operations on one bucket, with errors translated; thread-safe like a boto3 client."""

    def __init__(
        self,
        bucket: str,
        *,
        aws_conn_id: str | None,
        transfer_config_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self._transfer_config_args = {**DEFAULT_TRANSFER_CONFIG_ARGS, **(transfer_config_args or {})}

    def __repr__(self) -> str:
        return f"CacheBucket({self.bucket!r}, aws_conn_id={self.aws_conn_id!r})"

    # --- operations --------------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        """Size and sha256 metadata of ``key``, or None if there is no such object."""
        with self._translated_errors(f"check s3://{self.bucket}/{key}"):
            response = _unless_missing(partial(self._client.head_object, Bucket=self.bucket, Key=key))
        if response is None:
            return None
        metadata = {name.lower(): value for name, value in (response.get("Metadata") or {}).items()}
        return ObjectInfo(size=int(response["ContentLength"]), sha256=metadata.get("sha256"))

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's bytes (a manifest), or None if there is no such object."""
        with self._translated_errors(f"read s3://{self.bucket}/{key}"):
            response = _unless_missing(partial(self._client.get_object, Bucket=self.bucket, Key=key))
            if response is None:
                return None
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def put_bytes(self, key: str, data: bytes, *, sha256: str, content_type: str) -> None:
        """Write a small object in one request (S3 makes it visible all at once)."""
        with self._translated_errors(f"write s3://{self.bucket}/{key}"):
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata={"sha256": sha256},
            )

    def upload_file(
        self, path: Path, key: str, *, sha256: str, progress: Callable[[int], None] | None = None
    ) -> None:
        """Upload a file, multipart and in parallel above the threshold, reading parts from disk."""
        with self._translated_errors(f"upload s3://{self.bucket}/{key}"):
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": sha256}, "ContentType": "application/octet-stream"},
                Callback=progress,
                Config=self._transfer_config,
            )

    def download_hashed(
        self, key: str, fd: int, *, size: int, progress: Callable[[int], None] | None = None
    ) -> tuple[str, int]:
        """Download ``key`` (``size`` bytes long) into the empty file ``fd``, hashing it on the way.

        Returns the ``sha256:<hex>`` digest and the number of bytes written; the caller compares them
        with what it expected. Below the multipart threshold one GET streams into the file; above it,
        ranged GETs run in parallel through s3transfer and a thread hashes the file as it fills in.
        """
        with self._translated_errors(f"download s3://{self.bucket}/{key}"):
            config = self._transfer_config
            if size < config.multipart_threshold:
                from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

                return stream_to_file(
                    partial(self._open_range, key),
                    fd,
                    attempts=config.num_download_attempts,
                    retryable=S3_RETRYABLE_DOWNLOAD_ERRORS,
                    progress=progress,
                )
            with HashingFileWriter(fd) as writer:
                self._client.download_fileobj(self.bucket, key, writer, Callback=progress, Config=config)
                return writer.finish()

    def iter_object(self, key: str, *, chunk_size: int = STREAM_CHUNK_SIZE) -> Iterator[bytes]:
        """Yield an object's bytes in chunks as they arrive (one GET, memory bounded by ``chunk_size``).

        For passing a blob on without touching disk (to an Ollama server's blob upload). botocore checks
        that the body is as long as the response said; the caller checks the digest.
        """
        with self._translated_errors(f"read s3://{self.bucket}/{key}"):
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    def _open_range(self, key: str, start: int, etag: str | None) -> _RangeResponse:
        """GET ``key`` from byte ``start`` on; a resumed GET must still find the version it began with."""
        conditions: dict[str, str] = {}
        if start:
            conditions["Range"] = f"bytes={start}-"
        if etag:
            conditions["IfMatch"] = etag
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key, **conditions)
        except Exception as error:
            if etag and _error_code(error) in _CHANGED_CODES:
                raise OllamaCacheIntegrityError(
                    f"s3://{self.bucket}/{key} was replaced while it was being downloaded (by another "
                    "task saving it); nothing of it was installed, and the next restore reads the new "
                    "version"
                ) from error
            raise
        return _RangeResponse(body=response["Body"], etag=response.get("ETag"))

    def upload_stream(
        self,
        source: Readable,
        key: str,
        *,
        size: int,
        sha256: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload ``size`` bytes read from a stream that cannot seek (a registry download).

        Parts are held in memory until sent, so their size and number in flight are capped here rather
        than taken from the transfer settings: at most ``4 x max(8 MiB, size / 9000)`` per upload. A
        ``source.read`` that raises aborts the upload: nothing becomes visible under ``key``.
        """
        with self._translated_errors(f"upload s3://{self.bucket}/{key}"):
            config = copy.copy(self._transfer_config)
            part = max(_STREAM_PART_MIN, -(-size // _MAX_PARTS))
            config.multipart_threshold = part
            config.multipart_chunksize = part
            config.max_in_memory_upload_chunks = _STREAM_PARTS_IN_MEMORY
            self._client.upload_fileobj(
                source,
                self.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": sha256}, "ContentType": "application/octet-stream"},
                Callback=progress,
                Config=config,
            )

    # --- connection --------------------------------------------------------------------------------

    @cached_property
    def _hook(self) -> Any:
        try:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        except ImportError as error:
            raise OllamaCacheError(
                f"the S3 model cache needs the Amazon provider, which is not installed: {INSTALL_HINT}"
            ) from error
        return S3Hook(aws_conn_id=self.aws_conn_id, transfer_config_args=dict(self._transfer_config_args))

    @cached_property
    def _client(self) -> Any:
        from botocore.config import Config

        with self._translated_errors("connect to S3"):
            hook = self._hook
            defaults = Config(
                **_CLIENT_CONFIG_ARGS,
                # One pooled connection per transfer thread, so parallel parts never wait for a socket.
                max_pool_connections=max(10, int(self._transfer_config_args["max_concurrency"]) + 2),
            )
            return hook.get_client_type(region_name=hook.region_name, config=defaults.merge(hook.config))

    @cached_property
    def _transfer_config(self) -> Any:
        with self._translated_errors("configure S3 transfers"):
            return self._hook.transfer_config

    @cached_property
    def _endpoint(self) -> str:
        """The endpoint for messages: scheme, host and port only (a URL may carry credentials)."""
        try:
            url = self._hook.conn_config.get_service_endpoint_url("s3")
        except Exception:
            url = None
        if not url:
            return "AWS S3"
        parts = urlsplit(str(url))
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    @contextlib.contextmanager
    def _translated_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except OllamaCacheError:
            raise
        except Exception as error:
            translated = self._translate(error, action)
            if translated is None:
                raise
            raise translated from error

    def _translate(self, error: Exception, action: str) -> OllamaCacheError | None:
        from botocore.exceptions import (
            BotoCoreError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        cause = _unwrap(error)
        where = f"S3 bucket {self.bucket!r} (aws connection {self.aws_conn_id!r})"
        code = _error_code(cause)
        if code == "NoSuchBucket":
            return OllamaCacheUnavailableError(
                f"cannot {action}: {where} does not exist at {self._endpoint}; create the bucket or fix "
                "the cache location"
            )
        if code in _DENIED_CODES:
            return OllamaCacheUnavailableError(
                f"cannot {action}: access to {where} was denied ({code}); check the connection's "
                "credentials and that they may list, read and write the cache prefix"
            )
        if isinstance(cause, (ConnectionError, HTTPClientError)):
            return OllamaCacheUnavailableError(
                f"cannot {action}: {self._endpoint} did not answer for {where} "
                f"({type(cause).__name__}); check the connection's endpoint_url and the network"
            )
        if isinstance(cause, (NoCredentialsError, PartialCredentialsError)):
            return OllamaCacheUnavailableError(
                f"cannot {action}: no AWS credentials for {where}; set them in the connection"
            )
        if code is not None:
            return OllamaCacheUnavailableError(f"cannot {action}: {where} answered with error {code}")
        if isinstance(cause, BotoCoreError):
            return OllamaCacheUnavailableError(f"cannot {action}: {where}: {type(cause).__name__}")
        return None


def _unwrap(error: BaseException) -> BaseException:
    """The botocore error behind boto3's transfer wrappers (S3UploadFailedError, RetriesExceededError)."""
    last = getattr(error, "last_exception", None)
    if isinstance(last, BaseException):
        return last
    if type(error).__module__.startswith("boto3") and error.__context__ is not None:
        return error.__context__
    return error


def _unless_missing(request: Callable[[], Any]) -> Any:
    """The answer to ``request``, or None when S3 says the object does not exist (other errors raise)."""
    try:
        return request()
    except Exception as error:
        if _error_code(error) in _MISSING_CODES:
            return None
        raise


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None
