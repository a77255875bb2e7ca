"""The shared-server example runs end to end against the emulator named by ollama_default."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = pytest.mark.airflow


def test_example_shared_server_dag_waits_prepares_and_asks(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
) -> None:
    shared = ollama_emulator_factory(process=True)
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": shared.url}))
    model = ollama_registry.model_name("tiny")

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_shared_server.py",
        "example_ollama_shared_server",
        conf={"model": model, "question": "What is Airflow?", "insecure_registry": True},
    )

    result.assert_success()
    hook = OllamaHook(base_url=shared.url)
    digest = hook.model_digest(model)
    assert result.xcoms["prepare_model"]["models"] == {model: digest}
    answer = result.xcoms["ask"]
    assert answer["model"] == model
    assert answer["digest"] == digest
    assert answer["answer"]
    assert [loaded.model for loaded in hook.ps()] == [model]
