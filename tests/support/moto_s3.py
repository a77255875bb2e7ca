"""S3 for tests: moto's server on 127.0.0.1 and an empty bucket behind an Airflow aws connection.

A real HTTP endpoint (``mock_aws`` cannot intercept a custom endpoint_url), reached the way users reach
S3-compatible stores: an aws connection whose extra holds ``endpoint_url``. Test packages that need it
import the fixtures into their conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

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
