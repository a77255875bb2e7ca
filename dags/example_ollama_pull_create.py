"""Pull a base model, build a custom assistant from a Modelfile file rendered with Jinja, then use it.

Needs the connection ``ollama_default`` (type Ollama, host ``http://ollama:11434``). The pull is
deferrable: while the server downloads, the worker slot is free. The Modelfile lives next to this file,
in ``modelfiles/assistant.modelfile``, and takes its values from the DAG's params.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.create import CreateResult, OllamaCreateOperator
from airflow_provider_ollama.operators.pull import OllamaPullOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    params={
        "base_model": Param("llama3.2:1b", type="string", description="Model the assistant is built on."),
        "assistant": Param("tutor:latest", type="string", description="Name of the model to create."),
        "persona": Param("a patient physics tutor", type="string"),
        "max_sentences": Param(3, type="integer", minimum=1),
        "temperature": Param(0.3, type="number"),
    },
)
def example_ollama_pull_create() -> None:
    # Every run pulls: a model the server has costs one manifest check, a newer one is downloaded.
    pull_base = OllamaPullOperator(
        task_id="pull_base_model",
        model="{{ params.base_model }}",
        deferrable=True,  # the triggerer follows the download, the worker slot is free meanwhile
        stall_timeout=120,  # cancel and resume a download that stops moving for two minutes
    )

    # A path ending in .modelfile is read from this DAG's folder and rendered by Airflow's Jinja.
    create_assistant = OllamaCreateOperator(
        task_id="create_assistant",
        model="{{ params.assistant }}",
        modelfile="modelfiles/assistant.modelfile",
    )

    @task
    def ask(created: CreateResult, question: str) -> dict[str, str]:
        """Use the new model; its digest says exactly which build answered."""
        answer = OllamaHook().generate(created["model"], question, options={"num_predict": 64})
        return {"model": created["model"], "digest": created["digest"], "answer": answer.response or ""}

    answer = ask(create_assistant.output, "Why does a spinning top not fall over?")
    pull_base >> create_assistant >> answer


example_ollama_pull_create()
