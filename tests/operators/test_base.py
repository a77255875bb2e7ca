"""The server switch every model operator inherits: argument checks, shared and local paths, deferral."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.sdk import Context

from airflow_provider_ollama.cache import ModelSupply
from airflow_provider_ollama.exceptions import OllamaAuthError, OllamaServerNotReadyError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators.base import BaseOllamaOperator
from airflow_provider_ollama.server.settings import LocalServer
from airflow_provider_ollama.triggers.ollama import OllamaServerReadyTrigger
from tests.server.connections import use_ollama_connection
from tests.support.ports import unused_port

CONN_ID = "ollama_switch_test"


class VersionOperator(BaseOllamaOperator):
    """The smallest model operator: report the version of the server it was given."""

    def run(self, context: Context, hook: OllamaHook) -> Any:
        return {"version": hook.version(), "url": hook.base_url}


class ModelOperator(BaseOllamaOperator):
    """An operator whose own arguments name models the switch must prepare."""

    def __init__(self, *, model: str, also: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.also = also

    def models_to_prepare(self) -> list[str]:
        return [self.model, *self.also]

    def run(self, context: Context, hook: OllamaHook) -> Any:
        return hook.generate(self.model, "hi", options={"num_predict": 4}).response


# --- checked once rendered, before any server is touched ------------------------------------------------


def test_a_timeout_that_is_not_a_template_field_fails_at_dag_parse_time():
    with pytest.raises(ValueError, match="v: timeout must be a positive number of seconds"):
        VersionOperator(task_id="v", timeout=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server": "gpu"}, r"v: server='gpu' is not a server.*'shared'.*'local'.*LocalServer"),
        ({"server": LocalServer(gpus=[-1])}, "v: gpus"),
        ({"server": LocalServer(keep_alive="forever")}, "v: .*keep_alive"),
        ({"server": LocalServer(num_parallel=0)}, "v: num_parallel"),
        ({"server": LocalServer(env={"OLLAMA_HOST": "0.0.0.0"})}, r"v: env: OLLAMA_HOST .*port="),
        ({"server": LocalServer(require_gpu=True, gpus=None)}, "v: require_gpu=True contradicts"),
        ({"server": LocalServer(num_parallel="{{ n }}")}, "v: num_parallel is still a template"),  # type: ignore[arg-type]
    ],
)
def test_bad_rendered_arguments_fail_at_execute_start_naming_the_task(kwargs, message):
    operator = VersionOperator(task_id="v", **kwargs)  # stored as given: nothing is checked yet
    with pytest.raises(ValueError, match=message):
        operator.execute({})


def test_a_connection_id_still_a_template_fails_at_execute():
    operator = VersionOperator(task_id="v", ollama_conn_id="{{ params.conn }}")
    with pytest.raises(ValueError, match="v: ollama_conn_id is still a template"):
        operator.execute({})


def test_connection_id_rendered_empty_fails_at_execute():
    with pytest.raises(ValueError, match="ollama_conn_id rendered"):
        VersionOperator(task_id="v", ollama_conn_id="  ").execute({})


def test_template_fields_are_the_server_the_connection_and_the_cache():
    assert set(BaseOllamaOperator.template_fields) == {"server", "ollama_conn_id", "cache"}


def test_an_operator_without_run_says_what_to_implement(ollama_emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, ollama_emulator.url)
    with pytest.raises(NotImplementedError, match=r"run\(context, hook\)"):
        BaseOllamaOperator(task_id="base", ollama_conn_id=CONN_ID).execute({})


# --- shared mode --------------------------------------------------------------------------------------


def test_shared_mode_runs_the_work_on_the_connections_server(ollama_emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, ollama_emulator.url)
    result = VersionOperator(task_id="v", ollama_conn_id=CONN_ID).execute({})
    assert result == {"version": ollama_emulator.settings.version, "url": ollama_emulator.url}


def test_shared_mode_pulls_the_models_the_operator_names_before_the_work(
    ollama_emulator, ollama_registry, monkeypatch
):
    use_ollama_connection(monkeypatch, CONN_ID, ollama_emulator.url)
    model = ollama_registry.model_name("tiny")
    operator = ModelOperator(task_id="m", ollama_conn_id=CONN_ID, model=model)
    assert operator.execute({})
    assert OllamaHook(base_url=ollama_emulator.url).has_model(model)


def test_shared_mode_without_deferral_waits_on_the_worker_then_fails_typed(monkeypatch):
    port = unused_port()
    use_ollama_connection(monkeypatch, CONN_ID, port)
    operator = VersionOperator(task_id="v", ollama_conn_id=CONN_ID, deferrable=False, timeout=1)
    started = time.monotonic()
    with pytest.raises(OllamaServerNotReadyError, match=f"127.0.0.1:{port}"):
        operator.execute({})
    assert 1 <= time.monotonic() - started < 5


def test_shared_mode_defers_to_the_readiness_trigger_when_the_server_is_down(monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, unused_port())
    operator = VersionOperator(
        task_id="v",
        ollama_conn_id=CONN_ID,
        deferrable=True,
        timeout=120,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OllamaServerReadyTrigger)
    assert trigger.ollama_conn_id == CONN_ID
    # Models are pulled on the worker after resuming, never waited for or pulled in the triggerer.
    assert trigger.wait_for_models == []
    assert before + 120 <= trigger.end_time <= time.time() + 120
    assert trigger.poke_interval == 5  # a tenth of the timeout, at most 5 s
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None
    assert deferred.value.timeout > timedelta(seconds=120)


def test_shared_mode_with_deferral_does_not_defer_when_the_server_already_answers(
    ollama_emulator, monkeypatch
):
    use_ollama_connection(monkeypatch, CONN_ID, ollama_emulator.url)
    operator = VersionOperator(task_id="v", ollama_conn_id=CONN_ID, deferrable=True)
    assert operator.execute({})["url"] == ollama_emulator.url


def test_resuming_with_a_success_event_runs_the_work(ollama_emulator, monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, ollama_emulator.url)
    event = {
        "status": "success",
        "message": "ready",
        "url": ollama_emulator.url,
        "version": "x",
        "missing_models": [],
    }
    result = VersionOperator(task_id="v", ollama_conn_id=CONN_ID).execute_complete({}, event)
    assert result["url"] == ollama_emulator.url


def test_resuming_with_an_error_event_raises_its_typed_error():
    event = {
        "status": "error",
        "message": "token rejected",
        "missing_models": [],
        "error_type": "OllamaAuthError",
    }
    with pytest.raises(OllamaAuthError, match="token rejected"):
        VersionOperator(task_id="v").execute_complete({}, event)


# --- local mode ---------------------------------------------------------------------------------------


def test_local_mode_runs_the_work_on_a_server_of_its_own_and_stops_it(ollama_binary, ollama_registry):
    model = ollama_registry.model_name("tiny")
    operator = ModelOperator(task_id="m", server=LocalServer(binary=str(ollama_binary)), model=model)
    assert operator.execute({})
    assert operator.local_server is None


def test_local_server_is_built_from_the_operators_arguments():
    operator = ModelOperator(
        task_id="m",
        server=LocalServer(
            gpus=[1],
            keep_alive="15m",
            num_parallel=3,
            context_length=2048,
            env={"OLLAMA_DEBUG": "1"},
            models_dir="/srv/ollama-models",
        ),
        model="tiny",
        also=["tiny-embed"],
        timeout=90,
    )
    server = operator.build_local_server()
    assert server.models == ["tiny", "tiny-embed"]
    assert server.settings.gpus == [1]
    assert server.settings.ollama_variables()["OLLAMA_KEEP_ALIVE"] == "15m"
    assert server.settings.num_parallel == 3
    assert server.settings.context_length == 2048
    assert dict(server.settings.env) == {"OLLAMA_DEBUG": "1"}
    assert server.timeout == 90
    assert isinstance(server.preparer, ModelSupply)
    assert server.preparer.cache is None  # no cache=: models come from the registry
