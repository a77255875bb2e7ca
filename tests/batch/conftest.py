"""Fixtures for the batch tests: emulated Ollama servers with models pulled, and an S3 bucket on moto.

The emulator fixtures come from the project's pytest plugin; moto's S3 is a real HTTP server reached
through an Airflow aws connection whose extra holds endpoint_url.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import ollama
import pytest
from moto.server import ThreadedMotoServer

from airflow_provider_ollama.hooks.ollama import OllamaHook
from tests.batch.emulated import EmulatedOllama

BATCH_AWS_CONN_ID = "batch_results_s3"
BATCH_BUCKET = "batch-results"


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (starts in milliseconds; its objects live in this process's memory)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def results_bucket(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<conn_id>@<bucket>``: an empty bucket reached through an aws connection with endpoint_url."""
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_s3, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{BATCH_AWS_CONN_ID.upper()}", json.dumps(connection))
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket=BATCH_BUCKET)
    yield f"s3://{BATCH_AWS_CONN_ID}@{BATCH_BUCKET}"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BATCH_BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BATCH_BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BATCH_BUCKET)


@pytest.fixture
def emulated_ollama(ollama_emulator_factory: Any, ollama_registry: Any) -> Callable[..., EmulatedOllama]:
    """``start(**settings)``: an emulator with those settings, ``tiny`` and ``tiny-embed`` pulled."""

    def start(**settings: Any) -> EmulatedOllama:
        emulator = ollama_emulator_factory(registry_url=ollama_registry.url, **settings)
        client = ollama.Client(host=emulator.url, timeout=60)
        model = ollama_registry.model_name("tiny")
        embed_model = ollama_registry.model_name("tiny-embed")
        for name in (model, embed_model):
            client.pull(name, insecure=True)
        emulator.stats.reset()
        return EmulatedOllama(emulator, OllamaHook(base_url=emulator.url, timeout=30), model, embed_model)

    return start
