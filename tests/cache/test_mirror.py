"""S3ModelCache.mirror: a model copied from the registry (emulator) into S3 (moto) by the worker, verified."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from airflow_provider_ollama.cache import S3ModelCache
from airflow_provider_ollama.cache.registry import RegistryReadError
from airflow_provider_ollama.exceptions import OllamaCacheIntegrityError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.registries import ENVIRONMENT_VARIABLE
from airflow_provider_ollama.store import Manifest, ModelStore, blob_filename
from airflow_provider_ollama.testing.registry import big_model_spec
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.cache.support import BUCKET
from tests.support.moto_s3 import aws_connection_json, make_s3_client, moto_s3_in_a_child_process

PREFIX = "team/models"


@pytest.fixture
def model(ollama_registry: RegistryEmulator) -> str:
    return ollama_registry.model_name("tiny")


@pytest.fixture
def registry_manifest(ollama_registry: RegistryEmulator) -> Manifest:
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    return built.manifest


def keys(s3_client: Any) -> set[str]:
    return {item["Key"] for item in s3_client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_mirror_stores_the_registrys_exact_manifest_and_each_blob_downloaded_once(
    cache: S3ModelCache,
    model: str,
    registry_manifest: Manifest,
    ollama_registry: RegistryEmulator,
    s3_client: Any,
) -> None:
    report = cache.mirror(model, insecure=True)

    manifest_key = f"{PREFIX}/manifests/{ollama_registry.host}/library/tiny/latest"
    assert (report.status, report.bytes_uploaded) == ("saved", registry_manifest.total_size)
    assert s3_client.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read() == registry_manifest.raw
    for blob in registry_manifest.blobs:
        head = s3_client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/blobs/{blob_filename(blob.digest)}")
        assert head["Metadata"]["sha256"] == blob.digest.removeprefix("sha256:")
        assert ollama_registry.stats.blob_bytes_by_digest[blob.digest] == blob.size


def test_a_mirrored_model_restores_into_a_store_exactly_as_a_pull_leaves_it(
    cache: S3ModelCache, model: str, registry_manifest: Manifest, target_store: ModelStore
) -> None:
    cache.mirror(model, insecure=True)

    assert cache.restore(target_store, model).hit
    assert target_store.read_manifest(ModelName.parse(model)) == registry_manifest


def test_blobs_already_cached_are_not_downloaded_again(
    cache: S3ModelCache, model: str, registry_manifest: Manifest, ollama_registry: RegistryEmulator
) -> None:
    cache.mirror(model, insecure=True)
    ollama_registry.reset()

    again = cache.mirror(model, insecure=True)

    assert (again.blobs_uploaded, again.blobs_already_cached) == (0, len(registry_manifest.blobs))
    assert ollama_registry.stats.requests["cdn_get"] == 0


def test_corrupt_bytes_from_the_registry_never_reach_s3(
    cache: S3ModelCache,
    model: str,
    registry_manifest: Manifest,
    ollama_registry: RegistryEmulator,
    s3_client: Any,
) -> None:
    weights = registry_manifest.layers[0]
    ollama_registry.faults.corrupt(digest=weights.digest)

    with pytest.raises(OllamaCacheIntegrityError, match=weights.digest):
        cache.mirror(model, insecure=True, raise_errors=True)

    assert not [key for key in keys(s3_client) if blob_filename(weights.digest) in key or "manifests" in key]


def test_a_download_cut_short_is_never_uploaded(
    cache: S3ModelCache,
    model: str,
    registry_manifest: Manifest,
    ollama_registry: RegistryEmulator,
    s3_client: Any,
) -> None:
    weights = registry_manifest.layers[0]
    ollama_registry.faults.truncate(digest=weights.digest)

    with pytest.raises((RegistryReadError, OllamaCacheIntegrityError)):
        cache.mirror(model, insecure=True, raise_errors=True)

    assert not [key for key in keys(s3_client) if blob_filename(weights.digest) in key or "manifests" in key]


def test_a_model_the_registry_lacks_is_named_with_the_registry(
    cache: S3ModelCache, ollama_registry: RegistryEmulator, bucket: str
) -> None:
    missing = ollama_registry.model_name("no-such-model")

    with pytest.raises(RegistryReadError, match=f"the registry {ollama_registry.url} has no"):
        cache.mirror(missing, insecure=True, raise_errors=True)


def test_with_read_write_a_failed_mirror_is_a_failed_report_not_an_error(
    cache: S3ModelCache, ollama_registry: RegistryEmulator, bucket: str
) -> None:
    report = cache.mirror(ollama_registry.model_name("no-such-model"), insecure=True)

    assert report.status == "failed"
    assert "has no" in (report.error or "")


def test_a_plain_http_registry_must_be_configured_as_insecure(
    cache: S3ModelCache, ollama_registry: RegistryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "")
    with pytest.raises(RegistryReadError, match=r"add 127.0.0.1:\d+ to \[ollama\] insecure_registries"):
        cache.mirror(f"http://{ollama_registry.model_name('tiny')}", raise_errors=True)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "127.0.0.1")
    assert cache.mirror(ollama_registry.model_name("tiny")).status == "saved"


def test_read_only_never_mirrors(make_cache: Any, model: str, ollama_registry: RegistryEmulator) -> None:
    assert make_cache(policy="read-only").mirror(model, insecure=True).status == "skipped"
    assert ollama_registry.stats.total_requests == 0


def test_a_big_blob_streams_from_the_registry_into_s3_in_bounded_memory(
    ollama_registry: RegistryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_registry.add_model(big_model_spec(96 << 20))
    model = ollama_registry.model_name("big")
    # moto in its own process: it holds whole objects in memory, which is not ours to measure.
    with moto_s3_in_a_child_process() as endpoint:
        monkeypatch.setenv("AIRFLOW_CONN_MEMORY_S3", aws_connection_json(endpoint))
        make_s3_client(endpoint).create_bucket(Bucket=BUCKET)
        cache = S3ModelCache(f"s3://{BUCKET}/models", aws_conn_id="memory_s3")
        cache.lookup("warm-up:latest")  # the S3 client is built before measuring

        tracemalloc.start()
        try:
            report = cache.mirror(model, insecure=True, raise_errors=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert report.bytes_uploaded > 96 << 20
    # Parts of 8 MiB, at most four in memory (botocore copies some); the registry emulator in this process adds a little.
    assert peak < 64 << 20, f"peak Python allocation {peak >> 20} MiB while mirroring 96 MiB"
