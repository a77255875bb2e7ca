"""What a task says about the S3 model cache: where it is, how to reach it, how to use it (:class:`ModelCache`).

The value of every model operator's ``cache=`` (a location string is the shortcut for
``ModelCache(location)``); its fields are Airflow template fields, checked once after rendering.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import ClassVar

from airflow.providers.common.compat.sdk import conf

from airflow_provider_ollama.cache.host_cache import DEFAULT_HOST_CACHE_DIR, HostBlobCache
from airflow_provider_ollama.cache.location import CacheLocation
from airflow_provider_ollama.cache.policy import CachePolicy
from airflow_provider_ollama.cache.s3 import S3ModelCache
from airflow_provider_ollama.exceptions import OllamaCacheError
from airflow_provider_ollama.templating import require_rendered


@dataclass
class ModelCache:
    """The S3 model cache a task uses (needs the Amazon provider: ``airflow-provider-ollama[amazon]``).

    .. code-block:: python

        ModelCache("s3://ml-models/ollama", aws_conn_id="aws_models", policy="refresh")

    :param location: ``s3://bucket/prefix`` of the cache.
    :param aws_conn_id: the Airflow aws connection to S3 (credentials, region, ``endpoint_url`` for MinIO
        and other S3-compatible stores).
    :param policy: ``"read-write"`` (default: restore what is cached, save what is pulled),
        ``"read-only"``, ``"refresh"`` (pull from the registry even when cached, and overwrite the entry)
        or ``"off"``; or a :class:`CachePolicy` member.
    :param host_blob_cache_dir: where this worker keeps verified blobs that per-task servers' stores
        hard-link from; default Airflow's ``[ollama] host_blob_cache_dir``, else
        ``/var/tmp/ollama-blob-cache``.
    """

    #: Rendered by Airflow when this value is an operator's template field.
    template_fields: ClassVar[tuple[str, ...]] = ("location", "aws_conn_id", "policy", "host_blob_cache_dir")

    location: str
    _: KW_ONLY
    aws_conn_id: str | None = "aws_default"
    policy: CachePolicy | str = CachePolicy.READ_WRITE
    host_blob_cache_dir: str | None = None

    @classmethod
    def of(cls, value: ModelCache | str | None) -> ModelCache | None:
        """The settings an operator's ``cache=`` argument stands for: None for no cache (None or ``""``)."""
        if isinstance(value, ModelCache):
            return value
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise TypeError(
                f"cache rendered to {value!r}; use an 's3://bucket/prefix' URL or ModelCache(...)"
            )
        return cls(value)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work (after templates are rendered)."""
        for name in self.template_fields:
            require_rendered(name, getattr(self, name))
        if self.aws_conn_id is not None and not isinstance(self.aws_conn_id, str):
            raise ValueError(f"aws_conn_id rendered to {self.aws_conn_id!r}; name an aws connection")
        try:
            CacheLocation.parse(self.location)
            CachePolicy.parse(self.policy)
        except OllamaCacheError as error:
            raise ValueError(str(error)) from None

    def open(self) -> S3ModelCache | None:
        """The cache itself (nothing is asked of S3 yet); None with the ``off`` policy."""
        policy = CachePolicy.parse(self.policy)
        if policy is CachePolicy.OFF:
            return None
        return S3ModelCache(self.location, aws_conn_id=self.aws_conn_id, policy=policy)

    def host_blob_cache(self) -> HostBlobCache:
        """This worker's verified blob cache: ``host_blob_cache_dir``, else Airflow's configuration."""
        configured = conf.get("ollama", "host_blob_cache_dir", fallback="")
        return HostBlobCache(self.host_blob_cache_dir or configured or DEFAULT_HOST_CACHE_DIR)
