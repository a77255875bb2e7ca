"""Test DAGs for OllamaServerOperator: per-task server work, an execution_timeout, a shared server."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.server.settings import LocalServer

SHARED_CONN_ID = "ollama_operator_test"
START = pendulum.datetime(2025, 1, 1, tz="UTC")


def complete(hook: OllamaHook, model: str, prompt: str) -> str:
    """The callable's work: one completion on the server the operator prepared."""
    return hook.generate(model, prompt, options={"num_predict": 8}).response or ""


def report_server_then_block(hook: OllamaHook, task: Any, pid_file: str) -> None:
    """Write the per-task server's PID for the test, then outlive the task's execution_timeout."""
    Path(pid_file).write_text(str(task.local_server.pid))
    time.sleep(120)


@dag(
    schedule=None,
    start_date=START,
    catchup=False,
    params={"model": "tiny", "prompt": "Hello", "models_dir": "", "slots": 2},
    render_template_as_native_obj=True,
)
def ollama_server_local() -> None:
    answer = OllamaServerOperator(
        task_id="complete_on_task_server",
        server="local",
        models=["{{ params.model }}"],
        python_callable=complete,
        op_kwargs={"model": "{{ params.model }}", "prompt": "{{ params.prompt }}"},
    )
    facts = OllamaServerOperator(
        task_id="task_server_facts",
        # The settings' own fields are templates too, rendered with the task's.
        server=LocalServer(
            keep_alive=-1,
            num_parallel="{{ params.slots }}",
            models_dir="{{ params.models_dir }}",
        ),
        models=["{{ params.model }}"],
        preload=True,
    )

    @task
    def words(text: str) -> int:
        return len(text.split())

    words(answer.output)
    answer >> facts


@dag(schedule=None, start_date=START, catchup=False, params={"pid_file": ""})
def ollama_server_timeout() -> None:
    OllamaServerOperator(
        task_id="blocks_past_its_timeout",
        server="local",
        python_callable=report_server_then_block,
        op_kwargs={"pid_file": "{{ params.pid_file }}"},
        execution_timeout=timedelta(seconds=4),
    )


@dag(schedule=None, start_date=START, catchup=False, params={"model": "tiny"})
def ollama_server_shared() -> None:
    OllamaServerOperator(
        task_id="prepare_shared_server",
        server="shared",
        ollama_conn_id=SHARED_CONN_ID,
        deferrable=True,
        timeout=60,
        models=["{{ params.model }}"],
        preload=True,
    )


ollama_server_local()
ollama_server_timeout()
ollama_server_shared()
