"""The DAG operator_overhead.py runs with dag.test(): 512 prompts from an upstream task, one generate task."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.operators.generate import OllamaGenerateOperator

ITEMS = 512
OPTIONS = {"num_predict": 8, "seed": 1}
#: Two more than the emulator's 8 slots (see bench/README.md, "Batch generation").
MAX_CONCURRENCY = 10


def prompts() -> list[str]:
    return [f"Summarise document number {index} in one line." for index in range(ITEMS)]


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False, params={"model": ""})
def bench_generate_operator() -> None:
    @task
    def make_prompts() -> list[str]:
        return prompts()

    OllamaGenerateOperator(
        task_id="generate",
        model="{{ params.model }}",
        prompts=make_prompts(),
        options=OPTIONS,
        max_concurrency=MAX_CONCURRENCY,
    )


bench_generate_operator()
