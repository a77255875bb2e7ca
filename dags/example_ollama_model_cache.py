"""The S3 model cache: a model comes from the registry once, then from S3 on every worker, verified.

``fill_cache`` starts a per-task server, finds the model in the cache or pulls it from the registry and
saves it to S3 at once; ``summarise`` starts another per-task server and restores the model from S3 (on
the same worker: hard links from its verified host blob cache). Run the DAG again and ``fill_cache``
restores from S3 too: the registry is not asked again. ``cache_report`` reads where each task's model came
from out of XCom. The cache location defaults to ``$OLLAMA_MODEL_CACHE`` (docker-compose.yaml points it
at a MinIO bucket); the ``aws_default`` connection reaches it (its extra holds MinIO's ``endpoint_url``).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.pull import OllamaPullOperator

MODEL_CACHE = os.environ.get("OLLAMA_MODEL_CACHE", "s3://ollama-models/cache")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example", "s3"],
    params={
        "model": Param("llama3.2:1b", type="string"),
        "cache": Param(MODEL_CACHE, type="string", description="s3://bucket/prefix of the model cache"),
        "text": Param("Ollama keeps model weights as content-addressed blobs.", type="string"),
    },
)
def example_ollama_model_cache() -> None:
    fill_cache = OllamaPullOperator(
        task_id="fill_cache",
        server="local",
        model="{{ params.model }}",
        # Restored from here when cached (every byte checked against its sha256), saved here when pulled.
        cache="{{ params.cache }}",
    )

    @task.ollama(
        server="local",
        models=["{{ params.model }}"],
        cache="{{ params.cache }}",
    )
    def summarise(hook: OllamaHook, params: dict[str, Any]) -> str:
        """The model is on this task's server before the function runs: restored, not pulled."""
        # num_predict bounds the answer: one line needs no more, and a small model can ramble for minutes.
        # Temperature 0 with a seed: the same text gets the same summary on every run.
        reply = hook.generate(
            params["model"],
            f"Summarise in one line: {params['text']}",
            options={"num_predict": 64, "temperature": 0, "seed": 42},
        )
        return (reply.response or "").strip()

    @task
    def cache_report(ti: Any) -> dict[str, dict[str, Any]]:
        """Each task's cache report (XCom key ``ollama_cache``): hit or miss, bytes from S3 and registry."""
        tasks = ["fill_cache", "summarise"]
        reports = ti.xcom_pull(task_ids=tasks, key="ollama_cache")
        return {
            task_id: {
                model: {
                    "status": outcome["status"],
                    "bytes_from_s3": outcome["bytes_from_s3"],
                    "bytes_from_host_cache": outcome["bytes_from_host_cache"],
                    "bytes_from_registry": outcome["bytes_from_registry"],
                }
                for model, outcome in report["models"].items()
            }
            for task_id, report in zip(tasks, reports, strict=True)
        }

    fill_cache >> summarise() >> cache_report()


example_ollama_model_cache()
