"""Tests for airflow_provider_ollama.cache.location: S3 URLs and the store-shaped key layout."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.cache import CacheLocation
from airflow_provider_ollama.exceptions import OllamaCacheError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import sha256_digest

DIGEST = sha256_digest(b"weights")
HEX = DIGEST.removeprefix("sha256:")


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://models", "models", ""),
        ("s3://models/", "models", ""),
        ("s3://my.models-1/ollama", "my.models-1", "ollama"),
        ("s3://models/team/ollama/", "models", "team/ollama"),
    ],
)
def test_parse_splits_bucket_and_prefix(url: str, bucket: str, prefix: str) -> None:
    assert CacheLocation.parse(url) == CacheLocation(bucket, prefix)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("models/ollama", "expected an S3 URL"),
        ("https://models.s3.amazonaws.com/x", "expected an S3 URL"),
        ("gs://models/x", "expected an S3 URL"),
        ("s3://", "invalid bucket name"),
        ("s3://ab/x", "invalid bucket name"),
        ("s3://Models/x", "invalid bucket name"),
        ("s3://my_models/x", "invalid bucket name"),
        ("s3://models../x", "invalid bucket name"),
        ("s3://models/a//b", "invalid prefix"),
        ("s3://models/a/../b", "invalid prefix"),
    ],
)
def test_parse_rejects_anything_but_an_s3_url_with_a_valid_bucket(url: str, complaint: str) -> None:
    with pytest.raises(OllamaCacheError, match=complaint) as raised:
        CacheLocation.parse(url)
    assert "s3://my-bucket/ollama-cache" in str(raised.value)


def test_url_round_trips() -> None:
    assert CacheLocation.parse("s3://models/team/").url == "s3://models/team"
    assert str(CacheLocation("models")) == "s3://models"


def test_blob_keys_mirror_the_store_under_the_prefix() -> None:
    assert CacheLocation("models", "team").blob_key(DIGEST) == f"team/blobs/sha256-{HEX}"
    assert CacheLocation("models").blob_key(f"sha256-{HEX.upper()}") == f"blobs/sha256-{HEX}"


def test_manifest_keys_mirror_the_store_under_the_prefix() -> None:
    location = CacheLocation("models", "team")

    assert location.manifest_key(ModelName.parse("llama3.2")) == (
        "team/manifests/registry.ollama.ai/library/llama3.2/latest"
    )
    assert location.manifest_key(ModelName.parse("127.0.0.1:5000/acme/summariser:v2")) == (
        "team/manifests/127.0.0.1:5000/acme/summariser/v2"
    )


def test_manifest_keys_ignore_case_as_ollama_names_do() -> None:
    location = CacheLocation("models")

    assert location.manifest_key(ModelName.parse("Acme/Llama3.2:1B")) == location.manifest_key(
        ModelName.parse("acme/llama3.2:1b")
    )
