"""Tests for airflow_provider_ollama.cache.s3: save and restore through S3Hook against moto's server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import EndpointConnectionError

from airflow_provider_ollama.cache import CachePolicy, S3ModelCache
from airflow_provider_ollama.exceptions import OllamaCacheError, OllamaCacheIntegrityError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest, ModelStore, blob_filename, sha256_digest
from tests.cache.local_models import store_files, stray_temp_files, weights, write_model
from tests.cache.support import BUCKET, SMALL_PARTS, replace_object, run_in_spawned_workers
from tests.cache.workers import save_then_restore
from tests.support.moto_s3 import AWS_SECRET, S3CallLog

MODEL = "llama3.2:1b"
PREFIX = "team/models"


def blob_key(digest: str) -> str:
    return f"{PREFIX}/blobs/{blob_filename(digest)}"


MANIFEST_KEY = f"{PREFIX}/manifests/registry.ollama.ai/library/llama3.2/1b"


@pytest.fixture
def saved_model(cache: S3ModelCache, source_store: ModelStore) -> Manifest:
    """A 12 MiB model (three 5 MiB parts) saved to the cache."""
    manifest = write_model(source_store, MODEL, weights(12 << 20))
    cache.save(source_store, MODEL)
    return manifest


# --- the round trip ------------------------------------------------------------------------------


@pytest.mark.smoke
def test_restore_into_an_empty_store_gives_the_saved_files_byte_for_byte(
    saved_model: Manifest, cache: S3ModelCache, source_store: ModelStore, target_store: ModelStore
) -> None:
    report = cache.restore(target_store, MODEL)

    assert report.hit
    assert report.manifest_digest == saved_model.digest
    assert store_files(target_store.root) == store_files(source_store.root)


def test_save_uploads_the_config_blob_and_the_exact_manifest_bytes(
    saved_model: Manifest, s3_client: Any
) -> None:
    config = s3_client.get_object(Bucket=BUCKET, Key=blob_key(saved_model.config.digest))
    manifest = s3_client.get_object(Bucket=BUCKET, Key=MANIFEST_KEY)

    assert json.loads(config["Body"].read())["model_format"] == "gguf"
    assert manifest["Body"].read() == saved_model.raw


def test_saved_blobs_carry_their_sha256_as_metadata(saved_model: Manifest, s3_client: Any) -> None:
    for blob in saved_model.blobs:
        head = s3_client.head_object(Bucket=BUCKET, Key=blob_key(blob.digest))
        assert head["Metadata"]["sha256"] == blob.digest.removeprefix("sha256:")
        assert head["ContentLength"] == blob.size


def test_restored_blobs_are_readable_by_everyone(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore
) -> None:
    cache.restore(target_store, MODEL)

    modes = {target_store.blob_path(blob.digest).stat().st_mode & 0o777 for blob in saved_model.blobs}
    assert modes == {0o644}


def test_restore_downloads_only_blobs_the_store_lacks(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore, s3_calls: S3CallLog
) -> None:
    cache.restore(target_store, MODEL)
    target_store.blob_path(saved_model.config.digest).unlink()
    s3_calls.clear()

    report = cache.restore(target_store, MODEL)

    assert (report.blobs_downloaded, report.blobs_already_local) == (1, len(saved_model.blobs) - 1)
    assert {call.key for call in s3_calls.operations("GetObject")} == {
        MANIFEST_KEY,
        blob_key(saved_model.config.digest),
    }


def test_restore_replaces_a_local_blob_of_the_wrong_size(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore
) -> None:
    template = saved_model.layer("template")
    assert template is not None
    target_store.blobs_dir.mkdir(parents=True)
    target_store.blob_path(template.digest).write_bytes(b"half")

    report = cache.restore(target_store, MODEL)

    assert report.blobs_downloaded == len(saved_model.blobs)
    assert target_store.blob_path(template.digest).stat().st_size == template.size


def test_lookup_returns_the_cached_manifest_without_fetching_blobs(
    saved_model: Manifest, cache: S3ModelCache, s3_calls: S3CallLog
) -> None:
    assert cache.lookup(MODEL) == saved_model
    assert [call.key for call in s3_calls.reads] == [MANIFEST_KEY]


def test_lookup_matches_names_case_insensitively_like_ollama(
    saved_model: Manifest, cache: S3ModelCache
) -> None:
    assert cache.lookup("Llama3.2:1B") == saved_model


def test_a_missing_manifest_is_a_miss(cache: S3ModelCache, target_store: ModelStore, bucket: str) -> None:
    report = cache.restore(target_store, "never-saved:latest")

    assert (report.status, report.hit) == ("miss", False)
    assert cache.lookup("never-saved:latest") is None
    assert not target_store.root.exists()


# --- what save sends -----------------------------------------------------------------------------


def test_save_skips_blobs_already_in_s3(
    saved_model: Manifest, cache: S3ModelCache, source_store: ModelStore, s3_calls: S3CallLog
) -> None:
    report = cache.save(source_store, MODEL)

    assert (report.blobs_uploaded, report.blobs_already_cached) == (0, len(saved_model.blobs))
    assert s3_calls.writes == [s3_calls.writes[0]]
    assert s3_calls.writes[0].key == MANIFEST_KEY


def test_save_of_a_new_tag_uploads_only_the_blobs_it_does_not_share(
    saved_model: Manifest, cache: S3ModelCache, source_store: ModelStore, s3_calls: S3CallLog
) -> None:
    variant = write_model(source_store, "llama3.2:chatty", weights(12 << 20), template=b"{{ .Prompt }}!")

    report = cache.save(source_store, "llama3.2:chatty")

    uploaded = {call.key for call in s3_calls.writes} - {
        f"{PREFIX}/manifests/registry.ollama.ai/library/llama3.2/chatty"
    }
    new_digests = {blob.digest for blob in variant.blobs} - {blob.digest for blob in saved_model.blobs}
    assert uploaded == {blob_key(digest) for digest in new_digests}
    assert report.blobs_uploaded == len(new_digests) == 1


def test_save_writes_the_manifest_after_every_blob(
    cache: S3ModelCache, source_store: ModelStore, s3_calls: S3CallLog
) -> None:
    write_model(source_store, MODEL, weights(12 << 20))

    cache.save(source_store, MODEL)

    assert s3_calls.writes[-1].key == MANIFEST_KEY
    assert [call.key for call in s3_calls.writes].count(MANIFEST_KEY) == 1


def test_save_never_uploads_partial_downloads(
    cache: S3ModelCache, source_store: ModelStore, s3_calls: S3CallLog, s3_client: Any
) -> None:
    manifest = write_model(source_store, MODEL, weights(1 << 20))
    partial = source_store.blobs_dir / (blob_filename(manifest.config.digest) + "-partial")
    partial.write_bytes(b"in progress")
    (source_store.blobs_dir / (partial.name + "-0")).write_text('{"Offset":0}')

    cache.save(source_store, MODEL)

    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert not [key for key in keys if "partial" in key]
    assert len(keys) == len(manifest.blobs) + 1


def test_save_refuses_a_model_whose_blob_is_only_a_partial_download(
    cache: S3ModelCache, source_store: ModelStore, s3_calls: S3CallLog
) -> None:
    manifest = write_model(source_store, MODEL, weights(1 << 20))
    model_blob = source_store.blob_path(manifest.layers[0].digest)
    model_blob.rename(model_blob.with_name(model_blob.name + "-partial"))

    with pytest.raises(OllamaCacheError, match="pull the model completely first"):
        cache.save(source_store, MODEL, raise_errors=True)

    assert s3_calls.writes == []


def test_a_save_that_fails_midway_leaves_no_manifest(
    cache: S3ModelCache, source_store: ModelStore, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_model(source_store, MODEL, weights(12 << 20))
    config_key = blob_key(manifest.config.digest)
    original = botocore.client.BaseClient._make_api_call

    def endpoint_dies_at_the_config_blob(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutObject" and params.get("Key") == config_key:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1")
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", endpoint_dies_at_the_config_blob)

    report = cache.save(source_store, MODEL)

    assert report.status == "failed"
    assert report.blobs_uploaded >= 1  # the model layer made it
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert MANIFEST_KEY not in keys
    assert cache.lookup(MODEL) is None


def test_a_corrupt_local_blob_is_never_uploaded(
    cache: S3ModelCache, source_store: ModelStore, s3_client: Any
) -> None:
    manifest = write_model(source_store, MODEL, weights(1 << 20))
    path = source_store.blob_path(manifest.layers[0].digest)
    path.write_bytes(b"X" * manifest.layers[0].size)

    with pytest.raises(OllamaCacheIntegrityError, match="corrupt"):
        cache.save(source_store, MODEL, raise_errors=True)

    assert "Contents" not in s3_client.list_objects_v2(Bucket=BUCKET)


def test_a_model_missing_from_the_store_cannot_be_saved(
    cache: S3ModelCache, source_store: ModelStore
) -> None:
    with pytest.raises(OllamaCacheError, match="not in the store"):
        cache.save(source_store, MODEL, raise_errors=True)


# --- corruption and repair -----------------------------------------------------------------------


def test_a_corrupt_cached_blob_is_not_installed_and_leaves_nothing_behind(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore, s3_client: Any
) -> None:
    model_layer = saved_model.layers[0]
    replace_object(s3_client, blob_key(model_layer.digest), b"\0" * model_layer.size)

    with pytest.raises(OllamaCacheIntegrityError, match="corrupt") as raised:
        cache.restore(target_store, MODEL)

    assert model_layer.digest in str(raised.value)
    assert not target_store.blob_path(model_layer.digest).exists()
    assert target_store.find_manifest(ModelName.parse(MODEL)) is None
    assert stray_temp_files(target_store.root) == []


def test_save_repairs_a_blob_that_restore_found_corrupt(
    saved_model: Manifest,
    cache: S3ModelCache,
    source_store: ModelStore,
    target_store: ModelStore,
    s3_client: Any,
) -> None:
    model_layer = saved_model.layers[0]
    replace_object(s3_client, blob_key(model_layer.digest), b"\0" * model_layer.size)
    with pytest.raises(OllamaCacheIntegrityError):
        cache.restore(target_store, MODEL)

    # The caller pulls from the registry (here: the source store has the model) and saves again.
    repair = cache.save(source_store, MODEL)
    restored = cache.restore(target_store, MODEL)

    assert (repair.blobs_repaired, repair.blobs_uploaded) == (1, 1)
    assert restored.hit
    assert store_files(target_store.root) == store_files(source_store.root)


def test_a_truncated_cached_blob_fails_before_any_download_and_a_new_task_repairs_it(
    saved_model: Manifest,
    make_cache: Callable[..., S3ModelCache],
    source_store: ModelStore,
    target_store: ModelStore,
    s3_client: Any,
    s3_calls: S3CallLog,
) -> None:
    model_layer = saved_model.layers[0]
    s3_client.put_object(Bucket=BUCKET, Key=blob_key(model_layer.digest), Body=b"GGUF-truncated")

    with pytest.raises(OllamaCacheIntegrityError, match="truncated"):
        make_cache().restore(target_store, MODEL)
    assert [call.key for call in s3_calls.operations("GetObject")] == [MANIFEST_KEY]
    assert stray_temp_files(target_store.root) == []
    assert not target_store.blobs_dir.exists()

    repair = make_cache().save(source_store, MODEL)
    assert repair.blobs_repaired == 1
    assert make_cache().restore(target_store, MODEL).hit


def test_a_missing_config_blob_makes_the_entry_unusable_until_saved_again(
    saved_model: Manifest,
    cache: S3ModelCache,
    source_store: ModelStore,
    target_store: ModelStore,
    s3_client: Any,
) -> None:
    s3_client.delete_object(Bucket=BUCKET, Key=blob_key(saved_model.config.digest))

    with pytest.raises(OllamaCacheIntegrityError, match=r"config blob .* is missing"):
        cache.restore(target_store, MODEL)
    assert target_store.find_manifest(ModelName.parse(MODEL)) is None

    assert cache.save(source_store, MODEL).blobs_uploaded == 1
    assert cache.restore(target_store, MODEL).hit


def test_an_unreadable_cached_manifest_is_an_integrity_error(
    bucket: str, cache: S3ModelCache, s3_client: Any
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=b"<html>not json</html>")

    with pytest.raises(OllamaCacheIntegrityError, match="unreadable"):
        cache.lookup(MODEL)


def test_restore_can_report_a_corrupt_entry_instead_of_raising(
    saved_model: Manifest, cache: S3ModelCache, target_store: ModelStore, s3_client: Any
) -> None:
    s3_client.delete_object(Bucket=BUCKET, Key=blob_key(saved_model.config.digest))

    report = cache.restore(target_store, MODEL, raise_errors=False)

    assert (report.status, report.hit) == ("failed", False)
    assert report.error is not None
    assert "missing" in report.error


# --- policies ------------------------------------------------------------------------------------


def test_read_only_restores_but_never_writes(
    saved_model: Manifest,
    make_cache: Callable[..., S3ModelCache],
    source_store: ModelStore,
    target_store: ModelStore,
    s3_calls: S3CallLog,
) -> None:
    cache = make_cache(policy="read-only")

    assert cache.save(source_store, MODEL).status == "skipped"
    assert cache.restore(target_store, MODEL).hit
    assert s3_calls.writes == []


def test_refresh_saves_but_never_reads_the_cache(
    saved_model: Manifest,
    make_cache: Callable[..., S3ModelCache],
    source_store: ModelStore,
    target_store: ModelStore,
    s3_calls: S3CallLog,
) -> None:
    cache = make_cache(policy=CachePolicy.REFRESH)

    assert cache.restore(target_store, MODEL).status == "skipped"
    assert cache.lookup(MODEL) is None
    assert s3_calls == []
    assert cache.save(source_store, MODEL).status == "saved"


def test_off_touches_nothing_and_needs_no_connection(
    source_store: ModelStore, target_store: ModelStore, s3_calls: S3CallLog
) -> None:
    write_model(source_store, MODEL, weights(1024))
    cache = S3ModelCache("s3://no-such-bucket/x", aws_conn_id="no_such_connection", policy="off")

    assert cache.save(source_store, MODEL).status == "skipped"
    assert cache.restore(target_store, MODEL).status == "skipped"
    assert cache.lookup(MODEL) is None
    assert s3_calls == []


def test_read_write_save_failure_warns_and_returns_a_failed_report(
    make_cache: Callable[..., S3ModelCache], source_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    write_model(source_store, MODEL, weights(1024))
    cache = make_cache(location="s3://bucket-that-does-not-exist/models")

    with caplog.at_level(logging.WARNING, logger="airflow_provider_ollama.cache"):
        report = cache.save(source_store, MODEL)

    assert report.status == "failed"
    assert report.error is not None
    assert "bucket-that-does-not-exist" in report.error
    assert any("bucket-that-does-not-exist" in record.getMessage() for record in caplog.records)
    assert AWS_SECRET not in caplog.text


def test_a_failed_save_raises_with_the_refresh_policy(
    make_cache: Callable[..., S3ModelCache], source_store: ModelStore
) -> None:
    write_model(source_store, MODEL, weights(1024))
    cache = make_cache(location="s3://bucket-that-does-not-exist/models", policy="refresh")

    with pytest.raises(OllamaCacheError, match="bucket-that-does-not-exist"):
        cache.save(source_store, MODEL)


# --- reports and logs ----------------------------------------------------------------------------


def test_reports_are_json_for_xcom(
    saved_model: Manifest, cache: S3ModelCache, source_store: ModelStore, target_store: ModelStore
) -> None:
    restore_report = cache.restore(target_store, MODEL)
    restored = restore_report.to_dict()
    saved = cache.save(source_store, MODEL).to_dict()

    assert json.loads(json.dumps(restored)) == restored
    assert json.loads(json.dumps(saved)) == saved
    assert restored["bytes_downloaded"] == saved_model.total_size
    assert restored["mb_per_s"] == restore_report.megabytes_per_second > 0
    assert saved["blobs_already_cached"] == len(saved_model.blobs)


def test_each_operation_logs_one_summary_line_per_model(
    cache: S3ModelCache, source_store: ModelStore, target_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    write_model(source_store, MODEL, weights(12 << 20))

    with caplog.at_level(logging.INFO, logger="airflow_provider_ollama.cache"):
        cache.save(source_store, MODEL)
        cache.restore(target_store, MODEL)

    lines = [
        record.getMessage() for record in caplog.records if record.name.startswith("airflow_provider_ollama")
    ]
    assert len(lines) == 2
    assert lines[0].startswith(f"S3 model cache save of {MODEL} to s3://{BUCKET}/{PREFIX}: saved")
    assert lines[1].startswith(f"S3 model cache restore of {MODEL} from s3://{BUCKET}/{PREFIX}: hit")


def test_repr_names_location_connection_and_policy_only(cache: S3ModelCache) -> None:
    assert repr(cache) == (
        f"S3ModelCache('s3://{BUCKET}/{PREFIX}', aws_conn_id='model_cache_s3', policy='read-write')"
    )


# --- concurrency ---------------------------------------------------------------------------------


def test_four_tasks_saving_and_restoring_at_once_leave_a_consistent_entry_and_store(
    cache: S3ModelCache, tmp_path: Path, s3_client: Any
) -> None:
    sources = [ModelStore(tmp_path / f"task-{index}") for index in range(4)]
    manifests = {write_model(source, MODEL, weights(12 << 20)).raw for source in sources}
    shared = ModelStore(tmp_path / "shared-models")
    cache_kwargs = {
        "location": cache.location.url,
        "aws_conn_id": cache.aws_conn_id,
        "transfer_config_args": SMALL_PARTS,
    }

    outcomes = run_in_spawned_workers(
        save_then_restore, [(cache_kwargs, str(source.root), str(shared.root), MODEL) for source in sources]
    )

    assert {outcome["first"] for outcome in outcomes} <= {"hit", "miss"}
    assert {(outcome["saved"], outcome["second"]) for outcome in outcomes} == {("saved", "hit")}
    (manifest_bytes,) = manifests
    assert s3_client.get_object(Bucket=BUCKET, Key=MANIFEST_KEY)["Body"].read() == manifest_bytes
    for blob in Manifest.parse(manifest_bytes).blobs:
        body = s3_client.get_object(Bucket=BUCKET, Key=blob_key(blob.digest))["Body"].read()
        assert sha256_digest(body) == blob.digest
    assert store_files(shared.root) == store_files(sources[0].root)
    assert stray_temp_files(shared.root) == []
