"""Tests for airflow_provider_ollama.cache.bucket: S3 failures become clear typed errors, fast."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.cache.bucket import CacheBucket
from airflow_provider_ollama.exceptions import OllamaCacheError, OllamaCacheUnavailableError
from airflow_provider_ollama.store import ModelStore
from tests.cache.local_models import weights, write_model
from tests.cache.support import AWS_CONN_ID, BUCKET
from tests.support.moto_s3 import AWS_SECRET, aws_connection_json, create_iam_user, iam_enforced

MODEL = "llama3.2:1b"


def assert_names_bucket_and_connection_only(error: BaseException, bucket: str, conn_id: str) -> None:
    message = str(error)
    assert f"'{bucket}'" in message
    assert f"'{conn_id}'" in message
    assert AWS_SECRET not in message
    assert AWS_SECRET not in repr(error)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_missing_bucket_is_named_with_the_connection(aws_conn_id: str, target_store: ModelStore) -> None:
    cache = S3ModelCache("s3://no-such-bucket/models", aws_conn_id=aws_conn_id)

    with pytest.raises(OllamaCacheUnavailableError, match="does not exist") as raised:
        cache.restore(target_store, MODEL)

    assert_names_bucket_and_connection_only(raised.value, "no-such-bucket", aws_conn_id)


def test_a_dead_endpoint_fails_within_seconds_naming_bucket_connection_and_endpoint(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, target_store: ModelStore
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection_json(endpoint))
    cache = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id=AWS_CONN_ID)

    started = time.monotonic()
    with pytest.raises(OllamaCacheUnavailableError, match="did not answer") as raised:
        cache.lookup(MODEL)

    assert time.monotonic() - started < 10
    assert endpoint in str(raised.value)
    assert_names_bucket_and_connection_only(raised.value, BUCKET, AWS_CONN_ID)


def test_save_to_a_dead_endpoint_is_a_warning_with_read_write(
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
    source_store: ModelStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection_json(f"http://127.0.0.1:{closed_port}")
    )
    write_model(source_store, MODEL, weights(1024))

    report = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id=AWS_CONN_ID).save(source_store, MODEL)

    assert report.status == "failed"
    assert "did not answer" in (report.error or "")
    assert AWS_SECRET not in caplog.text


@pytest.fixture
def denied_connection(s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An aws connection for a real IAM user without S3 permissions, with moto enforcing IAM."""
    access_key, secret = create_iam_user(s3_endpoint, "no-s3")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}",
        aws_connection_json(s3_endpoint, login=access_key, password=secret),
    )
    with iam_enforced(s3_endpoint):
        yield secret


def test_access_denied_is_named_with_bucket_and_connection_but_no_secret(
    denied_connection: str, target_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    cache = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id=AWS_CONN_ID)

    with pytest.raises(OllamaCacheUnavailableError, match=r"denied \(AccessDenied\)") as raised:
        cache.restore(target_store, MODEL)

    assert_names_bucket_and_connection_only(raised.value, BUCKET, AWS_CONN_ID)
    assert denied_connection not in str(raised.value)
    assert denied_connection not in caplog.text


def test_a_missing_amazon_provider_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, aws_conn_id: str, target_store: ModelStore
) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.s3", None)
    cache = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id=aws_conn_id)

    with pytest.raises(OllamaCacheError, match=r"pip install 'airflow-provider-ollama\[amazon\]'"):
        cache.restore(target_store, MODEL)


def test_connection_settings_win_over_the_cache_client_defaults(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection: dict[str, Any] = {
        "conn_type": "aws",
        "login": "testing",
        "password": AWS_SECRET,
        "extra": {
            "endpoint_url": s3_endpoint,
            "region_name": "us-east-1",
            "config_kwargs": {"connect_timeout": 1, "s3": {"addressing_style": "path"}},
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(connection))
    cache_bucket = CacheBucket(bucket, aws_conn_id=AWS_CONN_ID)

    assert cache_bucket.head("models/absent") is None
    config = cache_bucket._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 60)
    assert config.s3 == {"addressing_style": "path"}
