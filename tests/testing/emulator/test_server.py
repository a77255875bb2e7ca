"""The emulator handles: in-thread OllamaEmulator and OllamaEmulatorProcess."""

from __future__ import annotations

from pathlib import Path

import httpx
import ollama
import pytest

from airflow_provider_ollama.testing.emulator.server import (
    EmulatorStartError,
    OllamaEmulator,
    OllamaEmulatorProcess,
)
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings


def test_default_emulator_uses_a_free_port_and_its_own_models_directory() -> None:
    with OllamaEmulator() as emulator:
        models_dir = emulator.settings.models_dir
        assert emulator.port not in (0, 11434)
        assert emulator.host == f"127.0.0.1:{emulator.port}"
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert ollama.Client(host=emulator.host).list().models == []
        assert models_dir.is_dir()
    assert not models_dir.exists(), "a models directory of its own is deleted on stop"


def test_overrides_replace_single_settings(tmp_path: Path) -> None:
    with OllamaEmulator(models_dir=tmp_path / "models", version="1.2.3") as emulator:
        assert httpx.get(emulator.url + "/api/version").json() == {"version": "1.2.3"}
        assert emulator.store.root == tmp_path / "models"
    assert (tmp_path / "models").is_dir(), "a given models directory is kept"


def test_explicit_settings_are_used_as_given(tmp_path: Path) -> None:
    settings = EmulatorSettings(port=0, models_dir=tmp_path, noprune=True)
    with OllamaEmulator(settings) as emulator:
        assert emulator.settings.noprune is True
        assert emulator.settings.port == emulator.port != 0


def test_crash_on_start_raises_in_thread() -> None:
    with pytest.raises(EmulatorStartError, match="crash on start"):
        OllamaEmulator(crash_on_start=True).start()


def test_stop_is_idempotent() -> None:
    emulator = OllamaEmulator().start()
    emulator.stop()
    emulator.stop()


def test_handle_needs_a_started_emulator_for_its_state() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = OllamaEmulator().faults


def test_process_handle_serves_and_stops_with_status_0(tmp_path: Path) -> None:
    process = OllamaEmulatorProcess(models_dir=tmp_path / "models")
    with process:
        assert ollama.Client(host=process.url).list().models == []
        assert "Listening on 127.0.0.1:" in process.logs
    assert process.returncode == 0
