"""The pytest plugin's fixtures, as a user's test suite sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ollama
import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
from airflow_provider_ollama.testing.external import ExternalOllamaServer, FaultInjectionUnavailableError

pytest_plugins = ["pytester"]
_INNER = ("-p", "no:xdist", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


def test_plugin_import_stays_light() -> None:
    code = (
        "import sys, airflow_provider_ollama.testing.pytest_plugin\n"
        "heavy = [m for m in ('airflow', 'uvicorn', 'starlette', 'httpx') if m in sys.modules]\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_ollama_server_is_the_emulator_by_default(ollama_server: Any) -> None:
    assert ollama_server.is_emulator is True
    assert isinstance(ollama_server, OllamaEmulator)
    assert ollama.Client(host=ollama_server.url).list().models == []


def test_pulled_model_is_ready_to_use(pulled_model: str, ollama_server: Any) -> None:
    names = [m.model for m in ollama.Client(host=ollama_server.url).list().models]
    assert names == [pulled_model]


def test_factory_starts_emulators_with_custom_settings(ollama_emulator_factory: Any) -> None:
    slow = ollama_emulator_factory(version="9.9.9")
    process = ollama_emulator_factory(process=True)
    assert ollama.Client(host=slow.url).ps().models == []
    assert isinstance(process, OllamaEmulatorProcess)
    assert process.returncode is None


def test_ollama_binary_defaults_to_the_emulator_script(ollama_binary: Path) -> None:
    assert ollama_binary.name == "ollama-emulator"
    assert os.access(ollama_binary, os.X_OK)


def test_external_server_refuses_fault_injection_with_a_hint() -> None:
    server = ExternalOllamaServer("127.0.0.1:11434")
    assert server.url == "http://127.0.0.1:11434"
    assert server.is_emulator is False
    with pytest.raises(FaultInjectionUnavailableError, match="unset OLLAMA_TEST_SERVER_URL"):
        _ = server.faults


def test_ollama_server_is_a_real_server_when_the_url_is_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_SERVER_URL", "http://127.0.0.1:9")
    pytester.makepyfile(
        """
        import pytest

        def test_it(ollama_server):
            assert ollama_server.is_emulator is False
            assert ollama_server.url == "http://127.0.0.1:9"
            with pytest.raises(RuntimeError, match="fault injection needs the emulator: unset OLLAMA_TEST_SERVER_URL"):
                ollama_server.faults.fail_next()
        """
    )
    pytester.runpytest(*_INNER).assert_outcomes(passed=1)


def test_ollama_binary_comes_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_BINARY", sys.executable)
    pytester.makepyfile(
        f"""
        def test_it(ollama_binary):
            assert str(ollama_binary) == {sys.executable!r}
        """
    )
    pytester.runpytest(*_INNER).assert_outcomes(passed=1)


def test_a_wrong_ollama_binary_fails_the_test_with_a_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_BINARY", str(tmp_path / "missing"))
    pytester.makepyfile("def test_it(ollama_binary):\n    pass\n")
    result = pytester.runpytest(*_INNER)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*OLLAMA_TEST_BINARY=*is not an executable file*"])
