"""Test DAG for the S3 model cache on every model operator: per-task servers, a shared one, a deferred pull.

One run tells the whole story: the first task pulls from the registry and fills the cache; the per-task
servers after it restore from S3 (then from the worker's host cache); the shared server gets the model
through its blobs API; a model left out of the cache is pulled by a deferred pull with a read-only cache.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.cache import ModelCache
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.pull import OllamaPullOperator
from airflow_provider_ollama.operators.server import OllamaServerOperator

AWS_CONN_ID = "model_cache_s3"
SHARED_CONN_ID = "ollama_cache_shared"
# One value for every task: the location is a template, rendered with each task's own fields.
CACHE = ModelCache("{{ params.cache }}", aws_conn_id=AWS_CONN_ID)
CACHED: dict[str, Any] = {"cache": CACHE}


def complete(hook: OllamaHook, model: str) -> str:
    return hook.generate(model, "Hello", options={"num_predict": 4}).response or ""


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={"model": "", "uncached_model": "", "cache": ""},
)
def ollama_model_cache_operators() -> None:
    pull_on_task_server = OllamaPullOperator(
        task_id="pull_on_task_server", server="local", model="{{ params.model }}", **CACHED
    )
    serve_on_task_server = OllamaServerOperator(
        task_id="serve_on_task_server",
        server="local",
        models=["{{ params.model }}"],
        python_callable=complete,
        op_kwargs={"model": "{{ params.model }}"},
        **CACHED,
    )

    @task.ollama(server="local", models=["{{ params.model }}"], **CACHED)
    def decorated_on_task_server(hook: OllamaHook, params: dict[str, Any]) -> str:
        return complete(hook, params["model"])

    pull_on_shared_server = OllamaPullOperator(
        task_id="pull_on_shared_server",
        ollama_conn_id=SHARED_CONN_ID,
        model="{{ params.model }}",
        **CACHED,
    )
    serve_on_shared_server = OllamaServerOperator(
        task_id="serve_on_shared_server",
        ollama_conn_id=SHARED_CONN_ID,
        models=["{{ params.model }}"],
        python_callable=complete,
        op_kwargs={"model": "{{ params.model }}"},
        **CACHED,
    )
    deferred_read_only_pull = OllamaPullOperator(
        task_id="deferred_read_only_pull",
        ollama_conn_id=SHARED_CONN_ID,
        model="{{ params.uncached_model }}",
        deferrable=True,
        cache=ModelCache("{{ params.cache }}", aws_conn_id=AWS_CONN_ID, policy="read-only"),
    )

    decorated = decorated_on_task_server()
    pull_on_task_server >> serve_on_task_server >> decorated
    decorated >> pull_on_shared_server >> serve_on_shared_server >> deferred_read_only_pull


ollama_model_cache_operators()
