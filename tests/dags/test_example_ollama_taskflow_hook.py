"""The TaskFlow example DAG runs end to end with dag.test() against the emulator and its registry."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = pytest.mark.airflow

TOKEN = "s3cret-dag-token"


def test_example_taskflow_dag_pulls_generates_chats_and_embeds(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
) -> None:
    emulator = ollama_emulator_factory(required_token=TOKEN)
    # What a deployment sets once: the default connection, here with a token for the proxy.
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT",
        json.dumps({"conn_type": "ollama", "host": emulator.url, "password": TOKEN}),
    )
    model, embedding_model = ollama_registry.model_name("tiny"), ollama_registry.model_name("tiny-embed")

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_taskflow_hook.py",
        "example_ollama_taskflow_hook",
        conf={"model": model, "embedding_model": embedding_model},
    )

    result.assert_success()
    digests = result.xcoms["ensure_models"]
    assert set(digests) == {model, embedding_model}
    assert all(digest.startswith("sha256:") for digest in digests.values())
    assert isinstance(result.xcoms["write_summary"], str)
    assert result.xcoms["write_summary"]
    assert result.xcoms["review_summary"]
    assert -1.0 <= result.xcoms["compare"] <= 1.0
    assert emulator.stats.requests_to("POST", "/api/pull") == 2
    assert TOKEN not in json.dumps(result.xcoms)
