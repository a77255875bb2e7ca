"""ModelSupply with the S3 cache on real per-task and shared servers (the emulator), moto's S3 and the registry emulator.

Each test starts ``ollama serve`` for a "task" the way operators do, with the supply as its preparer (or
prepares a shared server through it), and reads the registry's own counters to prove where the bytes
came from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.cache import HostBlobCache, S3ModelCache
from airflow_provider_ollama.cache.reports import CacheRunReport
from airflow_provider_ollama.cache.supply import ModelSupply
from airflow_provider_ollama.exceptions import OllamaCacheError, OllamaCacheUnavailableError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.server.local import LocalOllamaServer
from airflow_provider_ollama.server.preparation import ModelPreparer
from airflow_provider_ollama.server.settings import LocalServer
from airflow_provider_ollama.store import Manifest, ModelStore, blob_filename
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.cache.support import AWS_CONN_ID, BUCKET
from tests.support.moto_s3 import AWS_SECRET, aws_connection_json, create_iam_user, iam_enforced

PREFIX = "team/models"


@pytest.fixture
def model(ollama_registry: RegistryEmulator) -> str:
    return ollama_registry.model_name("tiny")


@pytest.fixture
def registry_manifest(ollama_registry: RegistryEmulator) -> Manifest:
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    return built.manifest


@pytest.fixture
def host_cache(tmp_path: Path) -> HostBlobCache:
    return HostBlobCache(tmp_path / "host-cache")


RunTask = Callable[..., tuple[CacheRunReport, Path]]


@pytest.fixture
def run_task(
    ollama_binary: Path, model: str, make_cache: Callable[..., S3ModelCache], tmp_path: Path
) -> RunTask:
    """Run one "task": a per-task server with the cache preparer; its report and its (kept) store."""
    counter = iter(range(100))

    def run(
        *,
        host_cache: HostBlobCache | None = None,
        work: Callable[[LocalOllamaServer], Any] | None = None,
        **cache_kwargs: Any,
    ) -> tuple[CacheRunReport, Path]:
        preparer = ModelSupply(make_cache(**cache_kwargs), host_cache=host_cache)
        store = tmp_path / f"task-{next(counter)}-models"
        with LocalOllamaServer(
            LocalServer(binary=ollama_binary, models_dir=store), models=[model], preparer=preparer
        ) as server:
            answer = server.hook.generate(model, "Hello", options={"num_predict": 3})
            assert answer.response
            if work is not None:
                work(server)
        assert preparer.report is not None
        return preparer.report, store

    return run


def blob_key(digest: str) -> str:
    return f"{PREFIX}/blobs/{blob_filename(digest)}"


def registry_blob_requests(registry: RegistryEmulator) -> int:
    requests = registry.stats.requests
    return requests["blob_head"] + requests["blob_get"] + requests["cdn_get"]


def test_the_supply_is_a_per_task_servers_model_preparer(cache: S3ModelCache) -> None:
    assert isinstance(ModelSupply(cache), ModelPreparer)
    assert isinstance(ModelSupply(), ModelPreparer)


@pytest.mark.smoke
def test_first_task_pulls_and_fills_the_cache_second_restores_with_no_registry_blob_request(
    run_task: RunTask, ollama_registry: RegistryEmulator, registry_manifest: Manifest, model: str
) -> None:
    first, _ = run_task()
    pulled_blob_requests = registry_blob_requests(ollama_registry)
    ollama_registry.reset()

    second, store = run_task()

    assert first.models[0].status == "miss"
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()
    assert first.models[0].bytes_from_registry == registry_manifest.total_size
    assert first.models[0].saved == "saved"
    assert pulled_blob_requests > 0
    assert (second.hits, second.misses) == (1, 0)
    assert second.models[0].bytes_from_s3 == registry_manifest.total_size
    assert registry_blob_requests(ollama_registry) == 0
    assert ollama_registry.stats.total_requests == 0
    # Byte for byte what the registry served: the manifest, and so the model's digest, survive.
    assert ModelStore(store).read_manifest(ModelName.parse(model)) == registry_manifest
    assert second.models[0].digest == registry_manifest.digest


def test_the_save_happens_right_after_the_pull_before_the_work(
    run_task: RunTask, make_cache: Callable[..., S3ModelCache], model: str
) -> None:
    seen_during_work: list[bool] = []

    run_task(work=lambda server: seen_during_work.append(make_cache().lookup(model) is not None))

    assert seen_during_work == [True]


def test_a_second_task_on_the_host_links_the_blobs_of_the_first(
    run_task: RunTask, host_cache: HostBlobCache, registry_manifest: Manifest, model: str
) -> None:
    run_task()  # fills S3
    first, first_store = run_task(host_cache=host_cache)
    second, second_store = run_task(host_cache=host_cache)

    assert first.models[0].bytes_from_s3 == registry_manifest.total_size
    assert (second.models[0].bytes_from_s3, second.models[0].bytes_from_host_cache) == (
        0,
        registry_manifest.total_size,
    )
    for blob in registry_manifest.blobs:
        inodes = {
            ModelStore(root).blob_path(blob.digest).stat().st_ino
            for root in (first_store, second_store, host_cache.root)
        }
        assert len(inodes) == 1, f"{blob.kind} blob is not one file linked into both stores"


def test_a_corrupt_cached_blob_is_never_installed_the_model_is_pulled_and_the_entry_repaired(
    run_task: RunTask,
    s3_client: Any,
    ollama_registry: RegistryEmulator,
    registry_manifest: Manifest,
    model: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_task()
    weights = registry_manifest.layers[0]
    key = blob_key(weights.digest)
    metadata = s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=b"\0" * weights.size, Metadata=metadata)
    ollama_registry.reset()

    with caplog.at_level(logging.WARNING, logger="airflow_provider_ollama.cache"):
        repaired, store = run_task()

    outcome = repaired.models[0]
    assert (outcome.status, outcome.saved) == ("repaired", "saved")
    assert outcome.error is not None
    assert "corrupt" in outcome.error
    assert any("unusable, pulling it from the registry" in record.getMessage() for record in caplog.records)
    assert ollama_registry.stats.blob_bytes_by_digest.get(weights.digest) == weights.size
    assert ModelStore(store).read_manifest(ModelName.parse(model)) == registry_manifest
    body = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(body) == weights.size
    assert body != b"\0" * weights.size
    ollama_registry.reset()
    assert run_task()[0].hits == 1
    assert registry_blob_requests(ollama_registry) == 0


def test_a_truncated_cached_blob_is_pulled_from_the_registry_and_the_entry_repaired(
    run_task: RunTask, s3_client: Any, registry_manifest: Manifest
) -> None:
    run_task()
    weights = registry_manifest.layers[0]
    s3_client.put_object(Bucket=BUCKET, Key=blob_key(weights.digest), Body=b"GGUF-truncated")

    repaired, _ = run_task()

    assert repaired.models[0].status == "repaired"
    assert "truncated" in (repaired.models[0].error or "")
    head = s3_client.head_object(Bucket=BUCKET, Key=blob_key(weights.digest))
    assert head["ContentLength"] == weights.size


def test_a_missing_config_blob_in_s3_is_pulled_and_saved_again(
    run_task: RunTask, s3_client: Any, registry_manifest: Manifest
) -> None:
    run_task()
    s3_client.delete_object(Bucket=BUCKET, Key=blob_key(registry_manifest.config.digest))

    repaired, _ = run_task()

    assert repaired.models[0].status == "repaired"
    assert "config blob" in (repaired.models[0].error or "")
    assert s3_client.head_object(Bucket=BUCKET, Key=blob_key(registry_manifest.config.digest))


# --- policies ------------------------------------------------------------------------------------


def test_read_only_restores_but_never_saves(
    run_task: RunTask, s3_calls: Any, ollama_registry: RegistryEmulator, model: str
) -> None:
    missed, _ = run_task(policy="read-only")
    assert (missed.models[0].status, missed.models[0].saved) == ("miss", "skipped")
    assert s3_calls.writes == []

    run_task()  # a read-write task fills it
    ollama_registry.reset()
    hit, _ = run_task(policy="read-only")

    assert hit.hits == 1
    assert registry_blob_requests(ollama_registry) == 0


def test_refresh_pulls_from_the_registry_although_the_cache_has_the_model_and_saves_it(
    run_task: RunTask, s3_calls: Any, ollama_registry: RegistryEmulator
) -> None:
    run_task()
    s3_calls.clear()
    ollama_registry.reset()

    refreshed, _ = run_task(policy="refresh")

    outcome = refreshed.models[0]
    assert (outcome.status, outcome.reason, outcome.saved) == ("skipped", "policy refresh", "saved")
    assert registry_blob_requests(ollama_registry) > 0
    assert s3_calls.operations("GetObject") == []


def test_refresh_pulls_a_model_the_server_has_already(
    make_cache: Callable[..., S3ModelCache],
    shared: OllamaEmulator,
    model: str,
    ollama_registry: RegistryEmulator,
) -> None:
    hook = OllamaHook(base_url=shared.url)
    ModelSupply().prepare(hook, [model])
    ollama_registry.reset()
    ModelSupply(make_cache(policy="read-write")).prepare(hook, [model])
    assert ollama_registry.stats.total_requests == 0  # present: left alone

    supply = ModelSupply(make_cache(policy="refresh"))
    supply.prepare(hook, [model])

    assert supply.report is not None
    assert supply.report.models[0].reason == "policy refresh"
    assert ollama_registry.stats.requests["manifest"] > 0


# --- failures ------------------------------------------------------------------------------------


def test_a_save_that_s3_refuses_warns_and_the_task_goes_on_with_read_write(
    run_task: RunTask,
    s3_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    access_key, secret = create_iam_user(
        s3_endpoint, "reader", allowed_actions=["s3:GetObject", "s3:ListBucket", "s3:HeadObject"]
    )
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}",
        aws_connection_json(s3_endpoint, login=access_key, password=secret),
    )
    worked: list[bool] = []

    with iam_enforced(s3_endpoint), caplog.at_level(logging.WARNING, logger="airflow_provider_ollama.cache"):
        report, _ = run_task(work=lambda server: worked.append(True))

    outcome = report.models[0]
    assert worked == [True]
    assert (outcome.status, outcome.saved) == ("miss", "failed")
    assert "denied" in (outcome.error or "")
    assert any(f"'{BUCKET}'" in record.getMessage() for record in caplog.records)
    assert secret not in caplog.text
    assert secret not in str(report.to_dict())


def test_a_failed_save_fails_the_task_with_refresh(
    run_task: RunTask, make_cache: Callable[..., S3ModelCache]
) -> None:
    with pytest.raises(OllamaCacheError, match="no-such-bucket"):
        run_task(location="s3://no-such-bucket/models", policy="refresh")


def test_an_unreachable_cache_fails_the_task_before_any_pull_naming_bucket_and_connection(
    run_task: RunTask,
    monkeypatch: pytest.MonkeyPatch,
    ollama_registry: RegistryEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection_json("http://127.0.0.1:9"))

    with pytest.raises(OllamaCacheUnavailableError, match="did not answer") as raised:
        run_task()

    assert f"'{BUCKET}'" in str(raised.value)
    assert f"'{AWS_CONN_ID}'" in str(raised.value)
    assert AWS_SECRET not in str(raised.value) + caplog.text
    assert registry_blob_requests(ollama_registry) == 0


# --- shared servers ------------------------------------------------------------------------------


@pytest.fixture
def shared(ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator:
    emulator = ollama_emulator_factory()
    assert isinstance(emulator, OllamaEmulator)
    return emulator


def prepare_shared(cache: S3ModelCache, shared: OllamaEmulator, model: str) -> CacheRunReport:
    supply = ModelSupply(cache)
    supply.prepare(OllamaHook(base_url=shared.url), [model])
    assert supply.report is not None
    return supply.report


def test_a_miss_on_a_shared_server_is_copied_from_the_registry_into_s3_and_the_server_never_pulls(
    cache: S3ModelCache,
    shared: OllamaEmulator,
    model: str,
    registry_manifest: Manifest,
    ollama_registry: RegistryEmulator,
) -> None:
    report = prepare_shared(cache, shared, model)

    outcome = report.models[0]
    assert (outcome.status, outcome.saved) == ("miss", "saved")
    assert outcome.bytes_from_registry == outcome.bytes_from_s3 == registry_manifest.total_size
    assert shared.stats.counter("pulls") == 0
    assert cache.lookup(model) == registry_manifest
    served = ollama_registry.stats.blob_bytes_by_digest
    assert all(served[blob.digest] == blob.size for blob in registry_manifest.blobs)
    assert OllamaHook(base_url=shared.url).generate(model, "Hi", options={"num_predict": 2}).response


def test_the_next_shared_server_gets_the_model_from_s3_alone(
    cache: S3ModelCache,
    ollama_emulator_factory: EmulatorFactory,
    shared: OllamaEmulator,
    model: str,
    ollama_registry: RegistryEmulator,
) -> None:
    prepare_shared(cache, shared, model)
    ollama_registry.reset()
    other = ollama_emulator_factory()
    assert isinstance(other, OllamaEmulator)

    report = prepare_shared(cache, other, model)

    assert report.hits == 1
    assert ollama_registry.stats.total_requests == 0


def test_with_read_only_a_shared_server_pulls_a_miss_itself(
    make_cache: Callable[..., S3ModelCache], shared: OllamaEmulator, model: str, s3_calls: Any
) -> None:
    report = prepare_shared(make_cache(policy="read-only"), shared, model)

    assert (report.models[0].status, report.models[0].saved) == ("miss", None)
    assert shared.stats.counter("pulls") == 1
    assert s3_calls.writes == []


def test_when_the_worker_cannot_read_the_registry_the_shared_server_pulls_instead(
    cache: S3ModelCache,
    shared: OllamaEmulator,
    model: str,
    ollama_registry: RegistryEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ollama_registry.faults.error(503, kinds="manifest", times=1)  # only the worker's first request

    with caplog.at_level(logging.WARNING, logger="airflow_provider_ollama.cache"):
        report = prepare_shared(cache, shared, model)

    assert report.models[0].status == "miss"
    assert "503" in (report.models[0].error or "")
    assert shared.stats.counter("pulls") == 1
    assert any("the server pulls it" in record.getMessage() for record in caplog.records)


def test_a_corrupt_entry_is_repaired_by_the_workers_copy_for_a_shared_server(
    cache: S3ModelCache,
    shared: OllamaEmulator,
    model: str,
    registry_manifest: Manifest,
    s3_client: Any,
    run_task: RunTask,
) -> None:
    run_task()
    weights = registry_manifest.layers[0]
    key = blob_key(weights.digest)
    metadata = s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=b"\0" * weights.size, Metadata=metadata)

    report = prepare_shared(cache, shared, model)

    assert report.models[0].status == "repaired"
    assert shared.stats.counter("pulls") == 0
    assert s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read() != b"\0" * weights.size
