"""Finding the ``ollama`` executable: explicit path, $OLLAMA_BINARY, PATH, and the error when none is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ollama.exceptions import OllamaBinaryNotFoundError
from airflow_provider_ollama.server.binary import find_ollama_binary


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_explicit_path_wins_over_environment_and_path(tmp_path: Path):
    chosen = _executable(tmp_path / "my-ollama")
    other = _executable(tmp_path / "ollama")
    found = find_ollama_binary(chosen, environ={"OLLAMA_BINARY": str(other), "PATH": str(tmp_path)})
    assert found == chosen


def test_environment_variable_names_the_binary(tmp_path: Path):
    configured = _executable(tmp_path / "ollama-0.12")
    assert find_ollama_binary(environ={"OLLAMA_BINARY": str(configured), "PATH": ""}) == configured


def test_ollama_on_path_is_found(tmp_path: Path):
    on_path = _executable(tmp_path / "ollama")
    assert find_ollama_binary(environ={"PATH": str(tmp_path)}) == on_path


def test_a_command_name_is_looked_up_on_path(tmp_path: Path):
    on_path = _executable(tmp_path / "ollama-emulator")
    assert find_ollama_binary("ollama-emulator", environ={"PATH": str(tmp_path)}) == on_path


def test_missing_binary_says_how_to_install_or_configure(tmp_path: Path):
    with pytest.raises(OllamaBinaryNotFoundError) as raised:
        find_ollama_binary(environ={"PATH": str(tmp_path)})
    message = str(raised.value)
    assert "https://ollama.com/install.sh" in message
    assert "ollama/ollama" in message
    assert "OLLAMA_BINARY" in message
    assert "binary=" in message


def test_configured_path_that_does_not_exist_is_named(tmp_path: Path):
    with pytest.raises(OllamaBinaryNotFoundError, match="does not exist"):
        find_ollama_binary(tmp_path / "nowhere" / "ollama", environ={})


def test_configured_file_that_is_not_executable_is_named(tmp_path: Path):
    plain = tmp_path / "ollama"
    plain.write_text("not a program")
    with pytest.raises(OllamaBinaryNotFoundError, match="not executable"):
        find_ollama_binary(environ={"OLLAMA_BINARY": str(plain)})
