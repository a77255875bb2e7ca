"""The S3 model cache on the model operators: arguments checked at parse time, and one real dag.test() run.

The run (tests/dags/ollama_model_cache_dag.py) uses moto's S3 through an aws connection, the registry
emulator, per-task servers started from the emulator binary, and a shared emulator; each test below
checks one thing about it, reading XCom and the registry's and servers' own counters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.cache import CachePolicy, ModelCache
from airflow_provider_ollama.operators.base import CACHE_XCOM_KEY
from airflow_provider_ollama.operators.pull import OllamaPullOperator
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.store import Manifest
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import emulator_script
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, DagRunResult, run_dag
from tests.support.moto_s3 import AWS_SECRET, aws_connection_json, make_s3_client, moto_s3

__all__ = ["moto_s3"]

DAG_FILE = REPO_ROOT / "tests" / "dags" / "ollama_model_cache_dag.py"
BUCKET = "operator-model-cache"
#: The tests that read the one DAG run: with xdist they stay on one worker, which runs the DAG once.
on_cache_run = pytest.mark.xdist_group("ollama_model_cache_run")


# --- arguments -----------------------------------------------------------------------------------


def test_a_malformed_cache_location_fails_once_rendered_before_any_request() -> None:
    operator = OllamaPullOperator(task_id="pull", model="tiny", cache="s3://No_Such/models")
    with pytest.raises(ValueError, match=r"^pull: invalid bucket name 'No_Such'"):
        operator.execute({})


def test_an_unknown_cache_policy_fails_once_rendered_before_any_request() -> None:
    cache = ModelCache("s3://bucket/models", policy="sometimes")
    operator = OllamaServerOperator(task_id="serve", cache=cache)
    with pytest.raises(ValueError, match=r"serve: unknown model cache policy 'sometimes'.*'read-write'"):
        operator.execute({})


def test_the_cache_and_its_settings_are_template_fields() -> None:
    assert "cache" in OllamaServerOperator.template_fields
    assert set(ModelCache.template_fields) == {"location", "aws_conn_id", "policy", "host_blob_cache_dir"}


@pytest.mark.parametrize("cache", [None, ""])
def test_without_a_cache_location_models_come_from_the_registry_only(cache: str | None) -> None:
    assert OllamaServerOperator(task_id="serve", cache=cache).model_supply().cache is None


def test_policy_off_means_no_cache_at_all() -> None:
    operator = OllamaServerOperator(task_id="serve", cache=ModelCache("s3://bucket/models", policy="off"))

    assert operator.model_supply().cache is None


def test_a_location_string_is_the_cache_with_the_default_connection_and_policy() -> None:
    supply = OllamaPullOperator(task_id="pull", model="tiny", cache="s3://bucket/models").model_supply()

    assert supply.cache is not None
    assert (supply.cache.location.url, supply.cache.aws_conn_id, supply.cache.policy) == (
        "s3://bucket/models",
        "aws_default",
        CachePolicy.READ_WRITE,
    )


def test_the_cache_gets_the_connection_and_policy_of_its_settings() -> None:
    cache = ModelCache("s3://bucket/models", aws_conn_id="s3_conn", policy=CachePolicy.READ_ONLY)

    supply = OllamaPullOperator(task_id="pull", model="tiny", cache=cache).model_supply()

    assert supply.cache is not None
    assert (supply.cache.aws_conn_id, supply.cache.policy) == ("s3_conn", CachePolicy.READ_ONLY)


def test_the_host_cache_directory_comes_from_the_settings_then_airflows_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR", str(tmp_path / "configured"))

    configured = ModelCache("s3://bucket/models").host_blob_cache()
    explicit = ModelCache("s3://bucket/models", host_blob_cache_dir=str(tmp_path / "mine")).host_blob_cache()

    assert (configured.root, explicit.root) == (tmp_path / "configured", tmp_path / "mine")


# --- one DAG run with every operator -------------------------------------------------------------


@dataclass
class CacheRun:
    result: DagRunResult
    registry: RegistryEmulator
    shared: OllamaEmulator
    model: str
    uncached_model: str
    manifest: Manifest
    host_cache: Path

    def cache_report(self, task_id: str) -> dict[str, Any]:
        report: dict[str, Any] = self.result.extra_xcoms[(task_id, CACHE_XCOM_KEY)]
        return report

    def outcome(self, task_id: str, model: str | None = None) -> dict[str, Any]:
        outcome: dict[str, Any] = self.cache_report(task_id)["models"][model or self.model]
        return outcome


@pytest.fixture(scope="module")
def cache_run(moto_s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CacheRun]:
    """``ollama_model_cache_operators`` run once; the registry and the shared server stay up for the tests."""
    host_cache = tmp_path_factory.mktemp("host") / "blob-cache"
    make_s3_client(moto_s3).create_bucket(Bucket=BUCKET)
    with (
        RegistryEmulator() as registry,
        OllamaEmulator(models_dir=tmp_path_factory.mktemp("shared-store")) as shared,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("OLLAMA_BINARY", str(emulator_script()))
        env.setenv("AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR", str(host_cache))
        env.setenv("AIRFLOW_CONN_MODEL_CACHE_S3", aws_connection_json(moto_s3))
        env.setenv(
            "AIRFLOW_CONN_OLLAMA_CACHE_SHARED", json.dumps({"conn_type": "ollama", "host": shared.url})
        )
        model, uncached = registry.model_name("tiny"), registry.model_name("tiny-embed")
        result = run_dag(
            DAG_FILE,
            "ollama_model_cache_operators",
            conf={"model": model, "uncached_model": uncached, "cache": f"s3://{BUCKET}/cache"},
        )
        built = registry.catalogue.model("library/tiny")
        assert built is not None
        yield CacheRun(result, registry, shared, model, uncached, built.manifest, host_cache)


@pytest.mark.smoke
@pytest.mark.airflow
@on_cache_run
def test_every_operator_runs_with_the_cache(cache_run: CacheRun) -> None:
    cache_run.result.assert_success()


@pytest.mark.airflow
@on_cache_run
def test_the_model_is_downloaded_from_the_registry_once_for_all_five_tasks(cache_run: CacheRun) -> None:
    served = cache_run.registry.stats.blob_bytes_by_digest
    assert {blob.digest: served.get(blob.digest) for blob in cache_run.manifest.blobs} == {
        blob.digest: blob.size for blob in cache_run.manifest.blobs
    }


@pytest.mark.airflow
@on_cache_run
def test_the_pull_operator_on_a_task_server_misses_saves_and_returns_the_registry_digest(
    cache_run: CacheRun,
) -> None:
    outcome = cache_run.outcome("pull_on_task_server")

    assert cache_run.result.xcoms["pull_on_task_server"] == {cache_run.model: cache_run.manifest.digest}
    assert (outcome["status"], outcome["saved"]) == ("miss", "saved")
    assert outcome["bytes_from_registry"] == cache_run.manifest.total_size


@pytest.mark.airflow
@on_cache_run
def test_the_server_operator_on_a_task_server_restores_from_s3(cache_run: CacheRun) -> None:
    report = cache_run.cache_report("serve_on_task_server")

    assert (report["hits"], report["misses"], report["bytes_from_registry"]) == (1, 0, 0)
    assert report["bytes_from_s3"] == cache_run.manifest.total_size
    assert report["mb_per_s"] > 0
    assert cache_run.result.xcoms["serve_on_task_server"]


@pytest.mark.airflow
@on_cache_run
def test_task_ollama_on_the_same_host_links_from_the_host_cache(cache_run: CacheRun) -> None:
    outcome = cache_run.outcome("decorated_on_task_server")

    assert outcome["status"] == "hit"
    assert (outcome["bytes_from_s3"], outcome["bytes_from_host_cache"]) == (0, cache_run.manifest.total_size)
    assert {path.name for path in (cache_run.host_cache / "blobs").iterdir()} == {
        blob.digest.replace(":", "-") for blob in cache_run.manifest.blobs
    }


@pytest.mark.airflow
@on_cache_run
def test_the_pull_operator_on_a_shared_server_rebuilds_the_model_through_its_api(cache_run: CacheRun) -> None:
    outcome = cache_run.outcome("pull_on_shared_server")
    digest = cache_run.result.xcoms["pull_on_shared_server"][cache_run.model]

    assert outcome["status"] == "hit"
    assert cache_run.shared.stats.counter("blob_uploads") == 1
    assert digest == outcome["digest"] != cache_run.manifest.digest  # the server's own manifest


@pytest.mark.airflow
@on_cache_run
def test_a_shared_server_that_has_the_model_needs_nothing_from_the_cache(cache_run: CacheRun) -> None:
    outcome = cache_run.outcome("serve_on_shared_server")

    assert (outcome["status"], outcome["reason"]) == ("skipped", "already on the server")
    assert cache_run.result.xcoms["serve_on_shared_server"]


@pytest.mark.airflow
@on_cache_run
def test_a_deferred_pull_with_a_read_only_cache_reports_the_miss_after_resuming(cache_run: CacheRun) -> None:
    outcome = cache_run.outcome("deferred_read_only_pull", cache_run.uncached_model)
    digest = cache_run.result.xcoms["deferred_read_only_pull"][cache_run.uncached_model]

    assert outcome["status"] == "miss"
    assert outcome["digest"] == digest
    assert cache_run.cache_report("deferred_read_only_pull")["policy"] == "read-only"


@pytest.mark.airflow
@on_cache_run
def test_no_secret_reaches_xcom(cache_run: CacheRun) -> None:
    everything = json.dumps([cache_run.result.xcoms, list(cache_run.result.extra_xcoms.values())])

    assert AWS_SECRET not in everything
