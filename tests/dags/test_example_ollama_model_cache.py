"""The model cache example runs end to end twice: the first run fills S3, the second asks the registry nothing.

moto stands in for S3 (through the ``aws_default`` connection's endpoint_url), the registry emulator for
the registry and the emulator binary for ``ollama``; each run gets a fresh host blob cache, as a new
worker would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.cache.support import cache_outcome
from tests.support.dag_runs import REPO_ROOT, DagRunResult, run_dag
from tests.support.moto_s3 import aws_connection_json, make_s3_client, moto_s3, s3_endpoint

__all__ = ["moto_s3", "s3_endpoint"]

pytestmark = pytest.mark.airflow

BUCKET = "ollama-models"


@pytest.fixture
def run_example(
    s3_endpoint: str,
    ollama_binary: Path,
    ollama_registry: RegistryEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[[], DagRunResult]:
    monkeypatch.setenv("OLLAMA_BINARY", str(ollama_binary))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(s3_endpoint))
    make_s3_client(s3_endpoint).create_bucket(Bucket=BUCKET)
    runs = iter(range(10))

    def run() -> DagRunResult:
        monkeypatch.setenv("AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR", str(tmp_path / f"worker-{next(runs)}"))
        return run_dag(
            REPO_ROOT / "dags" / "example_ollama_model_cache.py",
            "example_ollama_model_cache",
            conf={
                "model": ollama_registry.model_name("tiny"),
                "cache": f"s3://{BUCKET}/cache",
            },
        )

    return run


def test_the_first_run_pulls_once_and_the_second_restores_everything_from_s3(
    run_example: Callable[[], DagRunResult], ollama_registry: RegistryEmulator
) -> None:
    model = ollama_registry.model_name("tiny")
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    size = built.manifest.total_size

    first = run_example()
    first.assert_success()
    registry_bytes = ollama_registry.stats.blob_bytes_served
    ollama_registry.reset()
    second = run_example()
    second.assert_success()

    assert first.xcoms["cache_report"] == {
        "fill_cache": {model: cache_outcome("miss", registry=size)},
        "summarise": {model: cache_outcome("hit", s3=size)},
    }
    assert registry_bytes == size
    assert second.xcoms["cache_report"] == {
        "fill_cache": {model: cache_outcome("hit", s3=size)},
        "summarise": {model: cache_outcome("hit", host=size)},
    }
    assert ollama_registry.stats.total_requests == 0
    assert second.xcoms["summarise"]
