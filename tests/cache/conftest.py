"""S3 for the cache tests: moto's real HTTP server, an Airflow aws connection to it, a bucket, a cache.

Every S3 call goes through the Amazon provider's S3Hook exactly as in production; only the endpoint
is local. ``s3_calls`` records the API operations the process makes, to prove what was (not) sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import httpx
import pytest
from moto.server import ThreadedMotoServer

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.store import ModelStore
from tests.cache.support import (
    AWS_ACCESS_KEY,
    AWS_CONN_ID,
    AWS_SECRET,
    BUCKET,
    SMALL_PARTS,
    S3Call,
    S3CallLog,
    aws_connection_json,
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto S3 server on 127.0.0.1 for the test process (started in milliseconds)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_endpoint(moto_endpoint: str) -> Iterator[str]:
    """The moto server, emptied after the test (moto keeps objects in memory)."""
    yield moto_endpoint
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=30).raise_for_status()


@pytest.fixture
def aws_conn_id(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow aws connection (from the environment) whose endpoint_url is the moto server."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection_json(s3_endpoint))
    return AWS_CONN_ID


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client for setting up and inspecting the bucket behind the cache's back."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=AWS_ACCESS_KEY,
        aws_secret_access_key=AWS_SECRET,
    )


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


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> S3CallLog:
    """Record each API call (the call itself still goes to moto)."""
    log = S3CallLog()
    original = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        log.append(S3Call(operation_name, api_params.get("Key")))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return log
