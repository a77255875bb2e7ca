"""Registry emulator fixtures for these tests: the CLI in its own process.

The in-process ``ollama_registry`` fixtures come from the package's pytest plugin.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

START_TIMEOUT_S = 20.0
LISTENING_PREFIX = "Registry listening on "

RegistryProcess = tuple["subprocess.Popen[str]", str]
StartRegistry = Callable[..., RegistryProcess]


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The next stdout line of ``process``, failing after ``timeout`` seconds instead of hanging."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"the registry CLI printed nothing within {timeout} s")
    return process.stdout.readline()


def _start(
    processes: list[subprocess.Popen[str]], *args: str, env: dict[str, str] | None = None
) -> RegistryProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_ollama.testing.registry", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    processes.append(process)
    line = _read_line(process, START_TIMEOUT_S)
    assert line.startswith(LISTENING_PREFIX), line
    return process, line[len(LISTENING_PREFIX) :].strip()


def _kill_all(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def start_registry_cli() -> Iterator[StartRegistry]:
    """Start ``python -m airflow_provider_ollama.testing.registry --port 0 ARGS``; killed after the test."""
    processes: list[subprocess.Popen[str]] = []
    yield lambda *args, env=None: _start(processes, *args, env=env)
    _kill_all(processes)


@pytest.fixture(scope="module")
def big_registry_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A registry CLI process serving only ``library/big:latest`` with a 1 GiB GGUF."""
    processes: list[subprocess.Popen[str]] = []
    cache = tmp_path_factory.mktemp("emulator-cache")
    yield _start(
        processes, "--big-size", "1GiB", "--no-default-models", env={"OLLAMA_EMULATOR_CACHE": str(cache)}
    )
    _kill_all(processes)
