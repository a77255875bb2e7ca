"""The per-task server example runs end to end: the emulator stands in for `ollama` and reports a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = pytest.mark.airflow


def test_example_per_task_server_dag_pulls_summarises_and_reports(
    monkeypatch: pytest.MonkeyPatch, ollama_binary: Path, ollama_registry: RegistryEmulator
) -> None:
    # What a GPU worker has: the ollama binary, and a GPU the loaded model lands on.
    monkeypatch.setenv("OLLAMA_BINARY", str(ollama_binary))
    monkeypatch.setenv("OLLAMA_EMULATOR_GPU", "1")
    texts = ["First text to summarise.", "Second text.", "Third."]

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_per_task_server.py",
        "example_ollama_per_task_server",
        conf={"model": ollama_registry.model_name("tiny"), "texts": texts},
    )

    result.assert_success()
    summaries = result.xcoms["summarise_on_gpu"]
    assert len(summaries) == len(texts)
    assert all(isinstance(summary, str) and summary for summary in summaries)
    assert result.xcoms["report"] == {"summaries": 3, "characters": sum(map(len, summaries))}


def test_example_per_task_server_dag_fails_clearly_without_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
    ollama_binary: Path,
    ollama_registry: RegistryEmulator,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OLLAMA_BINARY", str(ollama_binary))
    monkeypatch.delenv("OLLAMA_EMULATOR_GPU", raising=False)

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_per_task_server.py",
        "example_ollama_per_task_server",
        conf={"model": ollama_registry.model_name("tiny")},
    )

    assert result.task_states["summarise_on_gpu"] == "failed"
    assert "OllamaGPUUnavailableError" in capfd.readouterr().out
