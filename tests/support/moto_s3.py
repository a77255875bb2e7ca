"""S3 for tests: moto's server on 127.0.0.1, Airflow aws connections to it, IAM users, and a log of S3 calls.

A real HTTP endpoint (``mock_aws`` cannot intercept a custom endpoint_url), reached the way users reach
S3-compatible stores: an aws connection whose extra holds ``endpoint_url``. One server per test process;
test packages import the fixtures they use into their conftest.py (or test module).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.client
import httpx
import pytest
from moto.server import ThreadedMotoServer

AWS_ACCESS_KEY = "testing"
#: The secret of every test aws connection: never expected in any message, log line, report or XCom.
AWS_SECRET = "moto-secret-that-must-never-be-logged"
BATCH_AWS_CONN_ID = "batch_results_s3"
BATCH_BUCKET = "batch-results"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for the test process (starts in milliseconds; objects live in memory)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


_MOTO_IN_A_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serves until the parent closes the pipe
server.stop()
"""


@contextlib.contextmanager
def moto_s3_in_a_child_process() -> Iterator[str]:
    """moto's S3 server in a process of its own: for measuring this process's memory without moto's."""
    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO_IN_A_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = child.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"moto's server did not start in its child process (exit {child.poll()})")
        yield f"http://127.0.0.1:{port}"
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture
def s3_endpoint(moto_s3: str) -> Iterator[str]:
    """The moto server, emptied after the test (buckets, objects and IAM users alike)."""
    yield moto_s3
    httpx.post(f"{moto_s3}/moto-api/reset", timeout=30).raise_for_status()


def aws_connection_json(endpoint: str, *, login: str = AWS_ACCESS_KEY, password: str = AWS_SECRET) -> str:
    """An Airflow aws connection (``AIRFLOW_CONN_<ID>`` value) for the S3 endpoint at ``endpoint``."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": login,
            "password": password,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )


def make_s3_client(endpoint: str, *, login: str = AWS_ACCESS_KEY, password: str = AWS_SECRET) -> Any:
    """A plain boto3 client, for setting up and inspecting buckets behind the code's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=login,
        aws_secret_access_key=password,
    )


def create_iam_user(endpoint: str, name: str, *, allowed_actions: list[str] | None = None) -> tuple[str, str]:
    """A moto IAM user allowed ``allowed_actions`` on every resource (none when omitted); its key pair."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=AWS_ACCESS_KEY,
        aws_secret_access_key=AWS_SECRET,
    )
    iam.create_user(UserName=name)
    if allowed_actions:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": allowed_actions, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


@contextlib.contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """Make moto check credentials and IAM policies inside the block (process-wide, so always undone)."""
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0", timeout=10).raise_for_status()
    try:
        yield
    finally:
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf", timeout=10).raise_for_status()


@dataclass(frozen=True)
class S3Call:
    operation: str
    key: str | None
    #: The ``Range`` of a GET (``bytes=<start>-[<end>]``), None for a whole object.
    range: str | None = None


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
    """Record each S3 API call made in this process (the call itself still goes to moto)."""
    log = S3CallLog()
    original = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        log.append(S3Call(operation_name, api_params.get("Key"), api_params.get("Range")))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return log


@pytest.fixture
def results_bucket(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<conn_id>@<bucket>``: an empty bucket reached through an aws connection with endpoint_url."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{BATCH_AWS_CONN_ID.upper()}", aws_connection_json(moto_s3))
    s3 = make_s3_client(moto_s3)
    s3.create_bucket(Bucket=BATCH_BUCKET)
    yield f"s3://{BATCH_AWS_CONN_ID}@{BATCH_BUCKET}"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BATCH_BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BATCH_BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BATCH_BUCKET)
