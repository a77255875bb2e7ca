"""Test DAGs that wait for a shared server which accepts connections and never answers.

The connection (``ollama_black_hole``, set by the test) has ``request_timeout: 2`` in its extra; every wait
has a timeout of 5 s and the defaults otherwise, as a user would write it. ``warm_up`` runs first, so that
the one-off start of dag.test()'s in-process API server (seconds, on a loaded machine) falls on it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.sensors.ollama import OllamaServerSensor

CONN_ID = "ollama_black_hole"
TIMEOUT_S = 5


@task
def warm_up() -> None:
    """Nothing: it only takes the first task's start-up cost."""


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def ollama_sensors_wait_for_a_black_hole() -> None:
    warm_up() >> [
        OllamaServerSensor(task_id="deferrable", ollama_conn_id=CONN_ID, deferrable=True, timeout=TIMEOUT_S),
        OllamaServerSensor(
            task_id="on_the_worker", ollama_conn_id=CONN_ID, deferrable=False, timeout=TIMEOUT_S
        ),
    ]


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def ollama_operators_wait_for_a_black_hole() -> None:
    warm_up() >> [
        OllamaServerOperator(
            task_id="deferrable", ollama_conn_id=CONN_ID, deferrable=True, timeout=TIMEOUT_S
        ),
        OllamaServerOperator(
            task_id="on_the_worker", ollama_conn_id=CONN_ID, deferrable=False, timeout=TIMEOUT_S
        ),
    ]


ollama_sensors_wait_for_a_black_hole()
ollama_operators_wait_for_a_black_hole()
