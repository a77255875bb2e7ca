"""ModelCache: the cache=settings of a task, the location string as their shortcut, checked once rendered."""

from __future__ import annotations

import copy

import pytest

from airflow_provider_ollama.cache import CachePolicy, ModelCache


def test_a_location_string_stands_for_the_defaults_and_nothing_for_no_cache() -> None:
    assert ModelCache.of("s3://bucket/models") == ModelCache("s3://bucket/models")
    assert ModelCache("s3://bucket/models").aws_conn_id == "aws_default"
    assert ModelCache("s3://bucket/models").policy == CachePolicy.READ_WRITE
    assert ModelCache.of(None) is None
    assert ModelCache.of("") is None
    settings = ModelCache("s3://bucket/models", policy="refresh")
    assert ModelCache.of(settings) is settings


def test_a_rendered_value_of_another_type_names_the_two_forms() -> None:
    with pytest.raises(TypeError, match=r"cache rendered to \['s3://b/m'\].*ModelCache"):
        ModelCache.of(["s3://b/m"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ModelCache("bucket/models"), "expected an S3 URL like 's3://my-bucket/ollama-cache'"),
        (ModelCache("s3://Bad_Bucket/models"), "invalid bucket name 'Bad_Bucket'"),
        (ModelCache("s3://bucket/models", policy="sometimes"), "'read-write', 'read-only', 'refresh', 'off'"),
        (ModelCache("{{ params.cache }}"), "location is still a template"),
        (ModelCache("s3://bucket/models", aws_conn_id=3), "aws_conn_id rendered to 3"),  # type: ignore[arg-type]
    ],
)
def test_settings_that_cannot_work_fail_validation_as_value_errors(
    settings: ModelCache, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        settings.validate()


def test_the_off_policy_opens_no_cache_and_the_others_the_one_they_name() -> None:
    assert ModelCache("s3://bucket/models", policy=CachePolicy.OFF).open() is None
    opened = ModelCache("s3://bucket/models", aws_conn_id="s3_conn", policy="read-only").open()
    assert opened is not None
    assert (opened.location.url, opened.aws_conn_id, opened.policy) == (
        "s3://bucket/models",
        "s3_conn",
        CachePolicy.READ_ONLY,
    )


def test_rendering_a_copy_leaves_the_original_a_template() -> None:
    original = ModelCache("{{ params.cache }}")
    rendered = copy.copy(original)
    rendered.location = "s3://bucket/models"
    assert original.location == "{{ params.cache }}"
