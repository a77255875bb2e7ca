"""Fixtures of the cache tests: a bucket on moto's server behind an Airflow aws connection, caches, stores.

moto's server, the aws connection helpers and the S3 call log come from tests/support/moto_s3.py (the one
moto module of the suite). Every S3 call goes through the Amazon provider's S3Hook exactly as in
production; only the endpoint is local.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.store import ModelStore
from tests.cache.support import AWS_CONN_ID, BUCKET, SMALL_PARTS
from tests.support.moto_s3 import aws_connection_json, make_s3_client, moto_s3, s3_calls, s3_endpoint

__all__ = ["moto_s3", "s3_calls", "s3_endpoint"]


@pytest.fixture
def aws_conn_id(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow aws connection (from the environment) whose endpoint_url is the moto server."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection_json(s3_endpoint))
    return AWS_CONN_ID


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client for setting up and inspecting the bucket behind the cache's back."""
    return make_s3_client(s3_endpoint)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def cache_url(bucket: str) -> str:
    return f"s3://{bucket}/team/models"


@pytest.fixture
def make_cache(cache_url: str, aws_conn_id: str) -> Callable[..., S3ModelCache]:
    """Build caches on the test bucket (each a fresh instance, as a new task would have)."""

    def make(**kwargs: Any) -> S3ModelCache:
        kwargs.setdefault("aws_conn_id", aws_conn_id)
        kwargs.setdefault("transfer_config_args", SMALL_PARTS)
        return S3ModelCache(kwargs.pop("location", cache_url), **kwargs)

    return make


@pytest.fixture
def cache(make_cache: Callable[..., S3ModelCache]) -> S3ModelCache:
    return make_cache()


@pytest.fixture
def source_store(tmp_path: Path) -> ModelStore:
    """The store of the task that pulled the model."""
    return ModelStore(tmp_path / "source")


@pytest.fixture
def target_store(tmp_path: Path) -> ModelStore:
    """An empty store on another worker."""
    return ModelStore(tmp_path / "target")
