"""The pull-and-create example DAG runs end to end with dag.test() against the emulator and its registry."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = pytest.mark.airflow

EXAMPLE = REPO_ROOT / "dags" / "example_ollama_pull_create.py"


def test_example_pulls_defers_creates_from_the_modelfile_file_and_asks_the_new_model(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
) -> None:
    # Bare names ("tiny") resolve to the registry emulator, as "llama3.2:1b" resolves to Ollama's.
    emulator = ollama_emulator_factory(registry_url=ollama_registry.url)
    assert isinstance(emulator, OllamaEmulator)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )
    # The example reads its Modelfile from the folder beside it; run_dag copies only the DAG file.
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.copytree(EXAMPLE.parent / "modelfiles", dags_folder / "modelfiles", dirs_exist_ok=True)

    result = run_dag(
        EXAMPLE,
        "example_ollama_pull_create",
        conf={"base_model": "tiny", "assistant": "tutor:latest", "persona": "a pirate tutor"},
    )

    result.assert_success()
    tiny = ollama_registry.catalogue.model("library/tiny")
    assert tiny is not None
    assert result.xcoms["pull_base_model"] == {"tiny": tiny.digest}
    created = result.xcoms["create_assistant"]
    assert created["model"] == "tutor:latest"
    assert created["status"] == "created"
    assert result.xcoms["ask"]["digest"] == created["digest"]
    assert result.xcoms["ask"]["answer"]
    shown = httpx.post(f"{emulator.url}/api/show", json={"model": "tutor:latest"}, timeout=10).json()
    assert shown["system"] == "You are a pirate tutor. Answer in at most 3 sentences."
    assert shown["template"].startswith("{{- if .System }}<|system|>\n{{ .System }}</s>")
