"""OllamaServerOperator in real dag.test() runs (per-task server, execution_timeout, deferred shared server)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.operators.server import OllamaServerOperator
from airflow_provider_ollama.server.settings import LocalServer
from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing.emulator.server import OllamaEmulatorProcess
from tests.server.connections import use_ollama_connection
from tests.server.processes import is_gone, kill_leftover_group, wait_until_gone
from tests.support.dag_runs import REPO_ROOT, migrate_metadata_db, run_dag
from tests.support.ports import unused_port
from tests.support.task_watch import run_when_deferred

OPERATOR_DAGS = REPO_ROOT / "tests" / "dags" / "ollama_server_operator_dag.py"
SHARED_CONN_ID = "ollama_operator_test"


@pytest.fixture
def task_server_binary(monkeypatch: pytest.MonkeyPatch, ollama_binary: Path) -> Path:
    """Per-task servers in these DAGs find ``ollama`` the way a worker would: through $OLLAMA_BINARY."""
    monkeypatch.setenv("OLLAMA_BINARY", str(ollama_binary))
    monkeypatch.delenv("OLLAMA_EMULATOR_PARENT_PID", raising=False)
    return ollama_binary


@pytest.mark.smoke
@pytest.mark.airflow
@pytest.mark.usefixtures("task_server_binary")
def test_local_mode_prepares_models_runs_the_callable_and_returns_its_value(ollama_registry, tmp_path):
    model = ollama_registry.model_name("tiny")
    store = tmp_path / "kept-store"
    result = run_dag(
        OPERATOR_DAGS,
        "ollama_server_local",
        conf={"model": model, "prompt": "Why is the sky blue?", "models_dir": str(store), "slots": 3},
    )
    result.assert_success()
    answer = result.xcoms["complete_on_task_server"]
    assert isinstance(answer, str)
    assert answer
    assert result.xcoms["words"] == len(answer.split())
    facts = result.xcoms["task_server_facts"]
    assert facts["version"]
    assert facts["url"].startswith("http://127.0.0.1:")
    assert list(facts["models"]) == [model]
    assert facts["models"][model].startswith("sha256:")
    # LocalServer(models_dir="{{ params.models_dir }}") was rendered: the kept store holds the model.
    assert ModelStore(store).read_manifest(ModelName.parse(model)) is not None


@pytest.mark.airflow
@pytest.mark.usefixtures("task_server_binary")
def test_execution_timeout_stops_the_per_task_server(tmp_path):
    pid_file = tmp_path / "server.pid"
    result = run_dag(OPERATOR_DAGS, "ollama_server_timeout", conf={"pid_file": str(pid_file)})
    assert result.task_states == {"blocks_past_its_timeout": "failed"}
    server_pid = int(pid_file.read_text())
    try:
        assert wait_until_gone(server_pid, timeout=2), (
            f"ollama serve (pid {server_pid}) outlived its timed-out task"
        )
    finally:
        kill_leftover_group(server_pid)


@pytest.mark.airflow
def test_shared_mode_defers_until_the_server_answers_then_pulls_preloads_and_reports(
    monkeypatch, ollama_registry
):
    port = unused_port()
    use_ollama_connection(monkeypatch, SHARED_CONN_ID, port)
    model = ollama_registry.model_name("tiny")
    shared = OllamaEmulatorProcess(port=port)
    migrate_metadata_db()
    watcher, deferred = run_when_deferred("ollama_server_shared", "prepare_shared_server", shared.start)
    try:
        result = run_dag(OPERATOR_DAGS, "ollama_server_shared", conf={"model": model})
        watcher.join(30)
        assert deferred.is_set(), "the operator never deferred"
        result.assert_success()
        facts = result.xcoms["prepare_shared_server"]
        hook = OllamaHook(base_url=shared.url)
        assert facts == {
            "version": hook.version(),
            "url": f"http://127.0.0.1:{port}",
            "models": {model: hook.model_digest(model)},
        }
        assert [loaded.model for loaded in hook.ps()] == [model], "preload=True did not load the model"
    finally:
        shared.close()


def _killing_callable(hook: OllamaHook, task: Any) -> dict[str, Any]:
    """Receive SIGTERM mid-task, as a worker's supervisor sends it, then look at the server."""
    server_pid = task.local_server.pid
    os.kill(os.getpid(), signal.SIGTERM)
    return {"pid": server_pid, "answers_after_kill": hook.is_ready(timeout=0.5)}


@pytest.fixture
def airflow_like_sigterm_handler() -> Iterator[list[OllamaServerOperator]]:
    """SIGTERM calls on_kill() of the registered task on the main thread, like Airflow's task runner."""
    tasks: list[OllamaServerOperator] = []

    def on_term(signum: int, frame: object) -> None:
        for running in tasks:
            running.on_kill()

    previous = signal.signal(signal.SIGTERM, on_term)
    yield tasks
    signal.signal(signal.SIGTERM, previous)


def test_on_kill_from_the_sigterm_handler_stops_the_per_task_server(
    ollama_binary, airflow_like_sigterm_handler
):
    operator = OllamaServerOperator(
        task_id="killed", server=LocalServer(binary=str(ollama_binary)), python_callable=_killing_callable
    )
    airflow_like_sigterm_handler.append(operator)
    observed = operator.execute({"task": operator})
    assert observed["answers_after_kill"] is False
    assert is_gone(observed["pid"])
    assert operator.local_server is None


def test_on_kill_without_a_running_server_does_nothing():
    OllamaServerOperator(task_id="idle", server="local").on_kill()


def test_callable_receives_the_hook_op_kwargs_and_the_context_entries_it_names(ollama_binary):
    seen: dict[str, Any] = {}

    def work(hook: OllamaHook, greeting: str, params: dict[str, Any]) -> str:
        seen.update(url=hook.base_url, params=params)
        return f"{greeting} {hook.version()}"

    operator = OllamaServerOperator(
        task_id="callable",
        server=LocalServer(binary=str(ollama_binary)),
        python_callable=work,
        op_kwargs={"greeting": "hi"},
    )
    result = operator.execute({"params": {"x": 1}, "ds": "2025-01-01"})
    assert result.startswith("hi ")
    assert seen["params"] == {"x": 1}
    assert seen["url"].startswith("http://127.0.0.1:")


def test_python_callable_must_be_callable():
    with pytest.raises(ValueError, match="callable"):
        OllamaServerOperator(task_id="bad", python_callable="not a function")  # type: ignore[arg-type]


def test_template_fields_include_the_connection_models_and_op_kwargs():
    assert {"ollama_conn_id", "models", "op_kwargs"} <= set(OllamaServerOperator.template_fields)
