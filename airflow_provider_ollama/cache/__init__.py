"""Model blob cache in S3: save a model from a local Ollama store, restore it verified into another.

``ModelCache`` is what a task says about the cache (an operator's ``cache=``); ``ModelSupply`` is the one
entry point that gets models onto a server through it; ``S3ModelCache`` talks to S3 through the Amazon
provider's S3Hook (the ``[amazon]`` extra, imported on first use); ``HostBlobCache`` keeps verified blobs
per worker host and hard-links them into stores.
"""

from airflow_provider_ollama.cache.host_cache import DEFAULT_HOST_CACHE_DIR, HostBlobCache, HostInstall
from airflow_provider_ollama.cache.location import CacheLocation
from airflow_provider_ollama.cache.policy import CachePolicy
from airflow_provider_ollama.cache.reports import RestoreReport, SaveReport
from airflow_provider_ollama.cache.s3 import S3ModelCache
from airflow_provider_ollama.cache.settings import ModelCache
from airflow_provider_ollama.cache.supply import ModelSupply

__all__ = [
    "DEFAULT_HOST_CACHE_DIR",
    "CacheLocation",
    "CachePolicy",
    "HostBlobCache",
    "HostInstall",
    "ModelCache",
    "ModelSupply",
    "RestoreReport",
    "S3ModelCache",
    "SaveReport",
]
