"""Session-wide runs of the batch operators' test DAGs (each DAG runs once; several test files read it).

The generate, chat and embed tests read their own tasks from the same run and compare them with the
reference server's answers (tests/operators/batch_reference.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from tests.operators.batch_reference import Reference, batch_reference
from tests.operators.batch_runs import BATCH_DAGS, BatchRun, emulator_binary, ollama_serve_children
from tests.support.dag_runs import run_dag
from tests.support.moto_s3 import moto_s3, results_bucket

__all__ = ["batch_reference", "moto_s3", "results_bucket"]


@pytest.fixture(scope="session")
def shared_batch_run(
    batch_reference: Reference, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BatchRun]:
    """``ollama_batch_shared`` against an emulator named by ``ollama_default``, which starts empty."""
    output_dir = tmp_path_factory.mktemp("shared-output")
    with OllamaEmulator(registry_url=batch_reference.registry.url) as emulator:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(
                "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
            )
            conf = batch_reference.conf(
                output_uri=f"file://{output_dir}/generate_to_file", name="Ada", prompts=["a", "b"]
            )
            result = run_dag(BATCH_DAGS, "ollama_batch_shared", conf=conf)
        yield BatchRun(result, emulator, output_dir, ollama_serve_children())


@pytest.fixture(scope="session")
def local_batch_run(batch_reference: Reference, tmp_path_factory: pytest.TempPathFactory) -> BatchRun:
    """``ollama_batch_local``: each task starts the emulator as its ``ollama serve`` and pulls its model."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OLLAMA_BINARY", str(emulator_binary()))
        # Any shared-server request would fail: nothing listens there.
        env.setenv(
            "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": "http://127.0.0.1:9"})
        )
        result = run_dag(BATCH_DAGS, "ollama_batch_local", conf=batch_reference.conf())
    return BatchRun(result, None, tmp_path_factory.mktemp("local-output"), ollama_serve_children())
