"""The flagship pipeline end to end on any real Airflow: the sensor deferred, then resumed by the triggerer.

The shared Ollama (the emulator) starts only once the sensor is deferred and the trigger has found no
server, so the sensor can only be resumed through the trigger, which runs in the triggerer process:
that is what deferral is for. Used by the ``airflow standalone`` test and by the Celery test.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.e2e import fleet_confs
from tests.e2e.deployment import AirflowDeployment
from tests.support.dag_runs import REPO_ROOT

DAG_ID = fleet_confs.PIPELINE
EXAMPLES = REPO_ROOT / "dags"
SENSOR = "wait_for_ollama"
READY_TRIGGER = "airflow_provider_ollama.triggers.ollama.OllamaServerReadyTrigger"


def install_flagship(dags_folder: Path) -> None:
    """Copy the flagship example and its Modelfile into ``dags_folder``."""
    dags_folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / f"{DAG_ID}.py", dags_folder)
    shutil.copytree(EXAMPLES / "modelfiles", dags_folder / "modelfiles", dirs_exist_ok=True)


@dataclass(frozen=True)
class FlagshipRun:
    run_id: str
    #: task id -> the task instance as the REST API returns it (hostname, queue, state...).
    task_instances: dict[str, dict[str, Any]]


def run_flagship(
    airflow: AirflowDeployment, registry: RegistryEmulator, *, ollama_port: int, models_dir: Path
) -> FlagshipRun:
    """Run the flagship with the shared server at ``ollama_port`` (``ollama_default``), which is started
    only after the sensor deferred; check every result and the triggerer's part."""
    from dags.example_ollama_pipeline import TICKET_SCHEMA

    base_model = registry.model_name("tiny")
    airflow.wait_for_dag(DAG_ID, timeout=60)
    run_id = airflow.trigger(DAG_ID, fleet_confs.pipeline(base_model))

    sensor = airflow.wait_for_task_state(DAG_ID, run_id, SENSOR, "deferred", timeout=90)
    assert sensor["trigger"]["classpath"] == READY_TRIGGER
    # The triggerer logs each check of the trigger into a log file of the task's own. Ollama starts
    # only once a check found no server there: the sensor can then only resume through the trigger.
    trigger_log = airflow.poll(
        "the trigger's first check", lambda: _trigger_log_containing(airflow, run_id, "not ready"), timeout=60
    )
    triggerer = airflow.task_instance(DAG_ID, run_id, SENSOR)["triggerer_job"]
    assert triggerer["job_type"] == "TriggererJob"
    assert trigger_log.name.endswith(f".trigger.{triggerer['id']}.log")

    with OllamaEmulator(port=ollama_port, models_dir=models_dir):
        run = airflow.wait_for_run(DAG_ID, run_id, timeout=120)
        instances = {ti["task_id"]: ti for ti in airflow.task_instances(DAG_ID, run_id)}
        assert run["state"] == "success", {task: ti["state"] for task, ti in instances.items()}
        pulled = airflow.xcom(DAG_ID, run_id, "pull_base_model")
        created = airflow.xcom(DAG_ID, run_id, "create_triage_model")
        records = airflow.xcom(DAG_ID, run_id, "triage_tickets")
        routed = airflow.xcom(DAG_ID, run_id, "route_tickets")

    assert {ti["state"] for ti in instances.values()} == {"success"}
    tiny = registry.catalogue.model("library/tiny")
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
    # The sensor's own try log: deferred on a worker, then resumed on one after the event.
    task_log = next(
        path for path in airflow.task_log_files(DAG_ID, run_id, SENSOR) if path.name == "attempt=1.log"
    )
    assert "Pausing task as DEFERRED" in task_log.read_text()
    assert f"at http://127.0.0.1:{ollama_port} is ready" in task_log.read_text()
    return FlagshipRun(run_id, instances)


def _trigger_log_containing(airflow: AirflowDeployment, run_id: str, text: str) -> Path | None:
    """The log a triggerer writes for the sensor's trigger (``attempt=1.log.trigger.<job id>.log``), once it holds ``text``."""
    for path in airflow.task_log_files(DAG_ID, run_id, SENSOR):
        if ".trigger." in path.name and text in path.read_text():
            return path
    return None
