"""The @task.ollama example: a task on its own server feeds an async task on the shared one."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.operators.batch_reference import Reference, batch_reference
from tests.operators.batch_runs import emulator_binary, ollama_serve_children
from tests.support.dag_runs import REPO_ROOT, run_dag

__all__ = ["batch_reference"]

pytestmark = pytest.mark.airflow


def test_example_task_decorator_dag_drafts_on_its_own_server_and_answers_on_the_shared_one(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory, batch_reference: Reference
) -> None:
    shared = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": shared.url}))
    monkeypatch.setenv("OLLAMA_BINARY", str(emulator_binary()))

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_task_decorator.py",
        "example_ollama_task_decorator",
        conf={"model": batch_reference.model},
    )

    result.assert_success()
    questions = result.xcoms["draft_questions"]
    assert 1 <= len(questions) <= 3
    assert all(isinstance(question, str) and question for question in questions)
    answers = result.xcoms["answer_questions"]
    assert [answer["question"] for answer in answers] == questions
    assert all(answer["answer"] for answer in answers)
    # Only the answers went to the shared server; the drafting server is gone.
    assert shared.stats.requests_to("POST", "/api/generate") == len(questions)
    assert ollama_serve_children() == []
