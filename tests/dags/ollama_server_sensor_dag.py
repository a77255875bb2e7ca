"""Test DAGs for OllamaServerSensor: one that waits long enough for a late server, one that gives up."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_ollama.sensors.ollama import OllamaServerSensor

CONN_ID = "ollama_sensor_test"


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def ollama_sensor_waits() -> None:
    OllamaServerSensor(
        task_id="wait_for_ollama",
        ollama_conn_id=CONN_ID,
        deferrable=True,
        poke_interval=0.25,
        timeout=60,
    )


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def ollama_sensor_gives_up() -> None:
    OllamaServerSensor(
        task_id="wait_for_ollama",
        ollama_conn_id=CONN_ID,
        wait_for_models=["llama3.2:1b"],
        deferrable=True,
        poke_interval=0.25,
        timeout=3,
    )


ollama_sensor_waits()
ollama_sensor_gives_up()
