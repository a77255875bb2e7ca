"""What the Celery end-to-end test passes to each DAG it runs: the only place it names DAG params.

The example DAGs' params (and how a run reaches a plain-HTTP registry) follow the operators' API; when
that changes, these functions, :func:`registry_environment` and tests/e2e/dags/celery_fleet_dags.py are
what to adapt.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

MAPPED_BATCH = "example_ollama_mapped_batch"
MODEL_CACHE = "example_ollama_model_cache"
PIPELINE = "example_ollama_pipeline"
GPU_QUEUE = "fleet_gpu_queue"
WORKER_LOSS = "fleet_worker_loss"


def registry_environment(registry: RegistryEmulator) -> dict[str, str]:
    """Variables every Airflow component gets so that tasks may pull from ``registry`` (plain HTTP).

    The deployment lists the registry among its insecure registries once, as it would its own.
    """
    return {"AIRFLOW__OLLAMA__INSECURE_REGISTRIES": registry.host}


def mapped_batch(model: str, *, documents: int, chunks: int, output_base_uri: str) -> dict[str, Any]:
    return {
        "model": model,
        "documents": documents,
        "chunks": chunks,
        "output_base_uri": output_base_uri,
    }


def model_cache(model: str, *, cache: str) -> dict[str, Any]:
    return {"model": model, "cache": cache}


def pipeline(base_model: str) -> dict[str, Any]:
    return {"base_model": base_model}


def fleet(model: str) -> dict[str, Any]:
    """For both DAGs of tests/e2e/dags/celery_fleet_dags.py."""
    return {"model": model}
