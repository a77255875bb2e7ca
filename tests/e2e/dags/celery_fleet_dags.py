"""DAGs the Celery end-to-end test needs beyond the examples in dags/: a GPU queue, and a worker lost mid-task.

This is the only file of the Celery tests that writes operator arguments (the examples write theirs);
when the operators' API changes, this file and ``tests/e2e/fleet_confs.py`` are what to adapt.

- ``fleet_gpu_queue``: per-task servers that must land on a GPU host. Routed with ``queue="gpu"`` and
  ``LocalServer(require_gpu=True)``, so a try on a host without a GPU fails instead of passing unnoticed.
- ``fleet_worker_loss``: a per-task server whose first try stays busy until the test kills its worker;
  the retry must then run on another worker and finish.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.server import LocalServer

START = pendulum.datetime(2025, 1, 1, tz="UTC")
GPU_QUEUE = "gpu"
GPU_TASKS = 3
#: How long a first try waits to be killed before it gives up (the test kills it within seconds).
FIRST_TRY_HOLD_S = 240


def answer(hook: OllamaHook, model: str, prompt: str) -> str:
    """The work done on the per-task server: one short completion."""
    return hook.generate(model, prompt, options={"num_predict": 8}).response or ""


def answer_on_retry(hook: OllamaHook, model: str, prompt: str, try_number: int | str) -> str:
    """First try: keep the server busy until the worker is killed. Any later try: do the work."""
    if int(try_number) == 1:
        time.sleep(FIRST_TRY_HOLD_S)
        raise RuntimeError(f"the worker running this first try was not killed within {FIRST_TRY_HOLD_S} s")
    return answer(hook, model, prompt)


def params() -> dict[str, Param]:
    return {"model": Param("llama3.2:1b", type="string")}


@dag(schedule=None, start_date=START, catchup=False, params=params())
def fleet_gpu_queue() -> None:
    OllamaServerOperator.partial(
        task_id="answer_on_gpu",
        queue=GPU_QUEUE,
        server=LocalServer(require_gpu=True),
        models=["{{ params.model }}"],
        python_callable=answer,
    ).expand(
        op_kwargs=[
            {"model": "{{ params.model }}", "prompt": f"GPU task {index}"} for index in range(GPU_TASKS)
        ]
    )


@dag(schedule=None, start_date=START, catchup=False, params=params())
def fleet_worker_loss() -> None:
    OllamaServerOperator(
        task_id="answer_after_worker_loss",
        server="local",
        models=["{{ params.model }}"],
        python_callable=answer_on_retry,
        op_kwargs={
            "model": "{{ params.model }}",
            "prompt": "Still there?",
            "try_number": "{{ ti.try_number }}",
        },
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


fleet_gpu_queue()
fleet_worker_loss()
