"""OllamaServerSensor: pokes, defers, resumes in a real dag.test() run, and fails clearly at its timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaServerNotReadyError,
    OllamaTriggerEventError,
)
from airflow_provider_ollama.sensors.ollama import OllamaServerSensor
from airflow_provider_ollama.testing.emulator.server import OllamaEmulatorProcess
from airflow_provider_ollama.triggers.ollama import OllamaServerReadyTrigger
from tests.server.connections import use_ollama_connection
from tests.support.dag_runs import REPO_ROOT, migrate_metadata_db, run_dag
from tests.support.ports import unused_port
from tests.support.task_watch import run_when_deferred

SENSOR_DAGS = REPO_ROOT / "tests" / "dags" / "ollama_server_sensor_dag.py"
CONN_ID = "ollama_sensor_test"


@pytest.fixture
def emulator() -> Iterator[OllamaEmulatorProcess]:
    with OllamaEmulatorProcess() as running:
        yield running


def _sensor(**kwargs: Any) -> OllamaServerSensor:
    return OllamaServerSensor(task_id="wait", ollama_conn_id=CONN_ID, poke_interval=0.5, timeout=30, **kwargs)


# --- in a real DAG run --------------------------------------------------------------------------------


@pytest.mark.airflow
def test_deferred_sensor_resumes_and_succeeds_when_the_server_comes_up_later(monkeypatch):
    port = unused_port()
    use_ollama_connection(monkeypatch, CONN_ID, port)
    late_server = OllamaEmulatorProcess(port=port)
    migrate_metadata_db()  # the watcher reads task states from the metadata database
    # The server starts only once the sensor has deferred: the wait really happens in the trigger.
    watcher, deferred = run_when_deferred("ollama_sensor_waits", "wait_for_ollama", late_server.start)
    try:
        result = run_dag(SENSOR_DAGS, "ollama_sensor_waits")
    finally:
        watcher.join(30)
        late_server.close()
    assert deferred.is_set(), "the sensor never deferred"
    result.assert_success()


@pytest.mark.airflow
def test_deferred_sensor_fails_at_its_timeout_naming_the_url_and_the_models(monkeypatch, capfd):
    port = unused_port()
    use_ollama_connection(monkeypatch, CONN_ID, port)
    started = time.monotonic()
    result = run_dag(SENSOR_DAGS, "ollama_sensor_gives_up")
    elapsed = time.monotonic() - started
    assert result.task_states == {"wait_for_ollama": "failed"}
    output = capfd.readouterr().out
    assert "OllamaServerNotReadyError" in output
    failure = next(line for line in output.splitlines() if "OllamaServerNotReadyError:" in line)
    assert f"http://127.0.0.1:{port}" in failure
    assert "llama3.2:1b" in failure
    # The sensor's own 3 s timeout ended it, not Airflow's deferral backstop (a minute later).
    assert elapsed < 45


# --- poke and defer, one call at a time -------------------------------------------------------------


def test_poke_is_false_while_nothing_answers(monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, unused_port())
    assert _sensor().poke({}) is False


def test_poke_is_true_when_the_server_answers(emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    assert _sensor().poke({}) is True


def test_poke_is_false_while_a_named_model_is_missing(emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    assert _sensor(wait_for_models=["llama3.2:1b"]).poke({}) is False


def test_poke_raises_at_once_for_a_rejected_token(monkeypatch):
    with OllamaEmulatorProcess(required_token="right").start(wait_ready=False) as guarded:
        use_ollama_connection(monkeypatch, CONN_ID, guarded.port, token="wrong")
        with pytest.raises(OllamaAuthError):
            _sensor(wait_for_models=["llama3.2:1b"]).poke({})


def test_deferrable_sensor_returns_without_deferring_when_already_ready(emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    assert _sensor(deferrable=True).execute({}) is None


def test_deferrable_sensor_defers_with_an_absolute_deadline_and_a_later_backstop(monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, unused_port())
    sensor = _sensor(deferrable=True, wait_for_models=["tiny"])
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OllamaServerReadyTrigger)
    assert before + 30 <= trigger.end_time <= time.time() + 30
    assert trigger.wait_for_models == ["tiny"]
    assert trigger.poke_interval == 0.5
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None
    assert deferred.value.timeout > timedelta(seconds=30)


def test_execute_complete_validates_the_event(monkeypatch):
    sensor = _sensor()
    with pytest.raises(OllamaTriggerEventError):
        sensor.execute_complete({}, None)
    with pytest.raises(OllamaServerNotReadyError, match="gone"):
        sensor.execute_complete({}, {"status": "timeout", "message": "gone", "missing_models": []})
    success = {"status": "success", "message": "ready", "url": "u", "version": "1", "missing_models": []}
    sensor.execute_complete({}, success)


def test_models_rendered_to_a_string_are_rejected_at_execute(monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, unused_port())
    with pytest.raises(ValueError, match="list of model names"):
        _sensor(wait_for_models="tiny").poke({})
