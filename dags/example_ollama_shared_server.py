"""A shared Ollama server: wait for it without holding a worker slot, make sure the model is there, use it.

Needs one Airflow connection, ``ollama_default`` (type Ollama, host ``http://ollama:11434``): a compose
service, a Kubernetes Deployment or a GPU box that many DAGs share. The sensor defers to the triggerer
while the server is down, so a slow boot costs no worker slot.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.sensors.ollama import OllamaServerSensor

OLLAMA_CONN_ID = "ollama_default"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    render_template_as_native_obj=True,
    params={
        "model": Param("llama3.2:1b", type="string", description="Model every task of this DAG uses."),
        "question": Param("Why is the sky blue?", type="string"),
        # Only for registries served over plain http, such as a test registry.
        "insecure_registry": Param(False, type="boolean"),
    },
)
def example_ollama_shared_server() -> None:
    # Wait in the triggerer (not in a worker slot) until the server answers; fail after 15 minutes with
    # an error naming the server's URL.
    wait = OllamaServerSensor(
        task_id="wait_for_ollama",
        ollama_conn_id=OLLAMA_CONN_ID,
        deferrable=True,
        poke_interval=10,
        timeout=timedelta(minutes=15),
    )

    # Pull the model if the server lacks it and load it for half an hour; returns
    # {"version": ..., "url": ..., "models": {model: "sha256:..."}} for the tasks downstream.
    prepare = OllamaServerOperator(
        task_id="prepare_model",
        server="shared",
        ollama_conn_id=OLLAMA_CONN_ID,
        deferrable=True,
        models=["{{ params.model }}"],
        insecure="{{ params.insecure_registry }}",
        preload=True,
        keep_alive="30m",
    )

    @task
    def ask(facts: dict[str, Any], question: str) -> dict[str, str]:
        """Use the shared server; record which exact model (digest) answered."""
        model, digest = next(iter(facts["models"].items()))
        answer = OllamaHook(OLLAMA_CONN_ID).generate(model, question, options={"num_predict": 64})
        return {"model": model, "digest": digest, "server": facts["version"], "answer": answer.response or ""}

    facts = prepare.output
    wait >> prepare
    ask(facts, "{{ params.question }}")


example_ollama_shared_server()
