"""The flagship pipeline under ``airflow standalone``: scheduler, triggerer, dag-processor and API server.

What is run and checked is in tests/e2e/flagship.py (the Celery test runs the same on a fleet of workers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.e2e import fleet_confs
from tests.e2e.flagship import DAG_ID, install_flagship, run_flagship
from tests.e2e.standalone import AirflowStandalone
from tests.support.ports import unused_port

# Tests that run whole Airflow servers share one xdist group: on two cores, two at once starve each other.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.xdist_group("airflow_servers")]


def test_flagship_runs_under_standalone_airflow_with_the_sensor_resumed_by_the_triggerer(
    tmp_path: Path, ollama_registry: RegistryEmulator
) -> None:
    ollama_port = unused_port()  # the shared server's address; nothing listens there until the sensor waits
    airflow = AirflowStandalone(
        tmp_path / "airflow",
        connections={"ollama_default": {"conn_type": "ollama", "host": f"http://127.0.0.1:{ollama_port}"}},
        environment=fleet_confs.registry_environment(ollama_registry),
    )
    install_flagship(airflow.dags_folder)
    with airflow, airflow.diagnosed(DAG_ID):
        airflow.wait_healthy(timeout=120)
        run_flagship(airflow, ollama_registry, ollama_port=ollama_port, models_dir=tmp_path / "ollama-models")
