"""S3 for the cache tests: moto's real HTTP server, an Airflow aws connection to it, a bucket, a cache.

Every S3 call goes through the Amazon provider's S3Hook exactly as in production; only the endpoint
is local. ``s3_calls`` records the API operations the process makes, to prove what was (not) sent.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import httpx
import pytest
from moto.server import ThreadedMotoServer

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.store import ModelStore

AWS_CONN_ID = "model_cache_s3"
AWS_ACCESS_KEY = "testing"
#: Never expected in any message, log line or report.
AWS_SECRET = "moto-secret-that-must-never-be-logged"
BUCKET = "model-cache"
#: Small parts so that a few MiB exercise multipart uploads and parallel ranged downloads.
SMALL_PARTS = {"multipart_threshold": 5 << 20, "multipart_chunksize": 5 << 20, "max_concurrency": 4}


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


def aws_connection_json(endpoint: str, *, login: str = AWS_ACCESS_KEY, password: str = AWS_SECRET) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": login,
            "password": password,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )


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


@dataclass(frozen=True)
class S3Call:
    operation: str
    key: str | None


class S3CallLog(list[S3Call]):
    """API operations seen by every botocore client in this process, in order."""

    def operations(self, *names: str) -> list[S3Call]:
        return [call for call in self if call.operation in names]

    @property
    def writes(self) -> list[S3Call]:
        return self.operations("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")

    @property
    def reads(self) -> list[S3Call]:
        return self.operations("GetObject", "HeadObject")


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


def run_in_spawned_workers(
    target: Callable[..., None], argument_lists: list[tuple[Any, ...]], timeout: float = 180
) -> list[dict[str, Any]]:
    """Run ``target`` in one spawned process per argument tuple; they start the real work together.

    ``target`` gets each tuple plus a barrier and a result queue (see tests/cache/workers.py).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(argument_lists))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*arguments, barrier, results)) for arguments in argument_lists
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    errors = [outcome["worker_error"] for outcome in outcomes if "worker_error" in outcome]
    assert not errors, "\n".join(errors)
    return outcomes
