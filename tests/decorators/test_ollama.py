"""``@task.ollama``: registered as ``task.ollama``, the hook as first argument, local and shared in a DAG."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk import DAG, task

from airflow_provider_ollama.decorators.ollama import _OllamaDecoratedOperator, ollama_task
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.operators.batch_reference import Reference
from tests.operators.batch_runs import emulator_binary, ollama_serve_children
from tests.support.dag_runs import REPO_ROOT, run_dag

DECORATOR_DAG = REPO_ROOT / "tests" / "dags" / "ollama_task_decorator_dag.py"


@pytest.mark.smoke
def test_task_ollama_resolves_through_airflow_sdk_task():
    assert task.ollama is ollama_task


def _decorated(function: Any, *args: Any, **kwargs: Any) -> _OllamaDecoratedOperator:
    with DAG("decorated", schedule=None) as dag:
        ollama_task(function, models=["tiny"])(*args, **kwargs)
    operator = dag.task_dict[function.__name__]
    assert isinstance(operator, _OllamaDecoratedOperator)
    return operator


def test_the_task_shows_as_task_ollama_in_the_ui():
    def summarise(hook: OllamaHook) -> None: ...

    assert _decorated(summarise).custom_operator_name == "@task.ollama"


def test_call_arguments_are_checked_against_the_function_without_its_hook():
    def summarise(hook: OllamaHook, text: str, words: int = 10) -> None: ...

    assert list(_decorated(summarise, "some text").op_args) == ["some text"]
    with pytest.raises(TypeError, match="too many positional arguments"):
        _decorated(summarise, "some text", 10, "extra")
    with pytest.raises(TypeError, match="missing a required argument: 'text'"):
        _decorated(summarise)


def test_a_function_without_a_hook_parameter_is_refused_when_the_dag_is_parsed():
    def summarise(*, text: str) -> None: ...

    with pytest.raises(TypeError, match=r"must take the OllamaHook as its first parameter"):
        _decorated(summarise, text="x")


def test_the_function_gets_the_hook_its_arguments_and_the_context_it_names(
    ollama_emulator_factory: EmulatorFactory,
):
    hook = OllamaHook(base_url=ollama_emulator_factory().url)

    def describe(hook: OllamaHook, text: str, params: dict[str, Any], words: int = 3) -> dict[str, Any]:
        return {"version": hook.version(), "text": text, "words": words, "params": params}

    operator = _decorated(describe, "tides", words=5)
    result = operator.run({"params": {"tone": "dry"}, "ds": "2025-01-01"}, hook)

    assert result == {"version": hook.version(), "text": "tides", "words": 5, "params": {"tone": "dry"}}


def test_an_async_function_is_awaited_with_the_hook(ollama_emulator_factory: EmulatorFactory):
    hook = OllamaHook(base_url=ollama_emulator_factory().url)

    async def versions(hook: OllamaHook, times: int) -> list[str]:
        return list(await asyncio.gather(*(hook.aversion() for _ in range(times))))

    assert _decorated(versions, 3).run({}, hook) == [hook.version()] * 3


@pytest.mark.airflow
def test_decorated_tasks_run_on_their_own_server_on_the_shared_one_and_mapped(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory, batch_reference: Reference
):
    shared = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": shared.url}))
    monkeypatch.setenv("OLLAMA_BINARY", str(emulator_binary()))

    result = run_dag(DECORATOR_DAG, "ollama_task_decorator", conf={"model": batch_reference.model})

    result.assert_success()
    own = result.xcoms["on_its_own_server"]
    assert own["url"] != shared.url.rstrip("/")  # a server of its own...
    assert own["models"] == [batch_reference.model]  # ...with the model prepared before the function ran
    assert own["answer"] == batch_reference.generate("Tell me about tides.").response
    assert own["task_id"] == "on_its_own_server"
    assert ollama_serve_children() == []  # ...and stopped afterwards
    prompts = ["First.", "Second.", "Third."]
    assert result.xcoms["on_the_shared_server"] == [batch_reference.generate(p).response for p in prompts]
    assert result.xcoms["one_word"] == [batch_reference.generate(w).response for w in ("alpha", "beta")]
    assert shared.stats.requests_to("POST", "/api/generate") == 5
