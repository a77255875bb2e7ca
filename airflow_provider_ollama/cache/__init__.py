"""Model blob cache in S3: save a model from a local Ollama store, restore it verified into another.

``S3ModelCache`` talks to S3 through the Amazon provider's S3Hook (the ``[amazon]`` extra, imported
on first use); ``HostBlobCache`` keeps verified blobs per worker host and hard-links them into stores.
"""

from airflow_provider_ollama.cache.host_cache import DEFAULT_HOST_CACHE_DIR, HostBlobCache, HostInstall
from airflow_provider_ollama.cache.location import CacheLocation
from airflow_provider_ollama.cache.policy import CachePolicy
from airflow_provider_ollama.cache.reports import RestoreReport, SaveReport
from airflow_provider_ollama.cache.s3 import S3ModelCache

__all__ = [
    "DEFAULT_HOST_CACHE_DIR",
    "CacheLocation",
    "CachePolicy",
    "HostBlobCache",
    "HostInstall",
    "RestoreReport",
    "S3ModelCache",
    "SaveReport",
]
