"""The flagship pipeline under a real Airflow: scheduler, triggerer, dag-processor and API server.

The shared Ollama (the emulator) starts only once the sensor is deferred, so the wait for it must
happen in the triggerer process and the sensor must be resumed from there: that is what deferral is for.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.e2e.standalone import AirflowStandalone
from tests.support.dag_runs import REPO_ROOT
from tests.support.ports import unused_port

# Tests that run whole Airflow servers share one xdist group: on two cores, two at once starve each other.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.xdist_group("airflow_servers")]

DAG_ID = "example_ollama_pipeline"
EXAMPLES = REPO_ROOT / "dags"
SENSOR = "wait_for_ollama"
READY_TRIGGER = "airflow_provider_ollama.triggers.ollama.OllamaServerReadyTrigger"


def _install_flagship(dags_folder: Path) -> None:
    dags_folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / f"{DAG_ID}.py", dags_folder)
    shutil.copytree(EXAMPLES / "modelfiles", dags_folder / "modelfiles")


def test_flagship_runs_under_standalone_airflow_with_the_sensor_resumed_by_the_triggerer(
    tmp_path: Path, ollama_registry: RegistryEmulator
) -> None:
    from dags.example_ollama_pipeline import TICKET_SCHEMA

    ollama_port = unused_port()  # the shared server's address; nothing listens there until the sensor waits
    airflow = AirflowStandalone(
        tmp_path / "airflow",
        connections={"ollama_default": {"conn_type": "ollama", "host": f"http://127.0.0.1:{ollama_port}"}},
    )
    _install_flagship(airflow.dags_folder)
    base_model = ollama_registry.model_name("tiny")
    with airflow:
        try:
            airflow.wait_healthy(timeout=120)
            airflow.wait_for_dag(DAG_ID, timeout=60)
            run_id = airflow.trigger(DAG_ID, {"base_model": base_model})

            sensor = airflow.wait_for_task_state(DAG_ID, run_id, SENSOR, "deferred", timeout=90)
            assert sensor["trigger"]["classpath"] == READY_TRIGGER
            # The triggerer logs each check of the trigger into a log file of the task's own. Ollama starts
            # only once a check found no server there: the sensor can then only resume through the trigger.
            trigger_log = airflow.poll(
                "the trigger's first check",
                lambda: _trigger_log_containing(airflow, run_id, "not ready"),
                timeout=60,
            )
            triggerer = airflow.task_instance(DAG_ID, run_id, SENSOR)["triggerer_job"]
            assert triggerer["job_type"] == "TriggererJob"
            assert trigger_log.name.endswith(f".trigger.{triggerer['id']}.log")

            with OllamaEmulator(port=ollama_port, models_dir=tmp_path / "ollama-models"):
                run = airflow.wait_for_run(DAG_ID, run_id, timeout=120)
                states = airflow.task_states(DAG_ID, run_id)
                assert run["state"] == "success", states
                pulled = airflow.xcom(DAG_ID, run_id, "pull_base_model")
                created = airflow.xcom(DAG_ID, run_id, "create_triage_model")
                records = airflow.xcom(DAG_ID, run_id, "triage_tickets")
                routed = airflow.xcom(DAG_ID, run_id, "route_tickets")
        except BaseException:
            print(airflow.diagnostics(DAG_ID))
            raise

    assert set(states.values()) == {"success"}
    tiny = ollama_registry.catalogue.model("library/tiny")
    assert tiny is not None
    assert pulled == {base_model: tiny.digest}
    assert created["model"] == "ticket-triage:latest"
    assert created["status"] == "created"
    assert len(records) == 5
    for record in records:
        jsonschema.validate(record["response"], TICKET_SCHEMA)
    assert routed["model_digest"] == created["digest"]
    assert sum(routed["by_category"].values()) == 5

    # The triggerer's log of the sensor's trigger: it started, found no server, then fired success.
    text = trigger_log.read_text()
    assert "starting" in text
    assert f"Ollama server at http://127.0.0.1:{ollama_port} not ready" in text
    assert "Trigger fired event" in text
    assert "'status': 'success'" in text
    # The sensor's own try log: deferred on the worker, then resumed there after the event.
    task_log = next(
        path for path in airflow.task_log_files(DAG_ID, run_id, SENSOR) if path.name == "attempt=1.log"
    )
    assert "Pausing task as DEFERRED" in task_log.read_text()
    assert f"at http://127.0.0.1:{ollama_port} is ready" in task_log.read_text()


def _trigger_log_containing(airflow: AirflowStandalone, run_id: str, text: str) -> Path | None:
    """The log a triggerer writes for the sensor's trigger (``attempt=1.log.trigger.<job id>.log``), once it holds ``text``."""
    for path in airflow.task_log_files(DAG_ID, run_id, SENSOR):
        if ".trigger." in path.name and text in path.read_text():
            return path
    return None
