"""pytest fixtures for testing code that talks to Ollama, offline: an emulated server and registry.

Registered as a ``pytest11`` plugin, so installing the package makes these fixtures available:

* ``ollama_emulator``: an Ollama server emulator on a free 127.0.0.1 port with its own models
  directory, for one test (handle: ``.url``, ``.host``, ``.faults``, ``.stats``, ``.store``).
* ``ollama_emulator_factory``: ``factory(settings=None, **overrides)`` starts more emulators with
  custom settings (``process=True`` runs ``ollama-emulator serve`` in a subprocess instead);
  all are stopped after the test.
* ``ollama_registry`` / ``ollama_registry_session``: a registry emulator serving ``tiny``,
  ``tiny:q8``, ``tiny-embed`` and ``tiny-think`` (pull ``registry.model_name("tiny")`` with
  ``insecure=True``); the session one is shared, so reset it before relying on its counters.
* ``ollama_server``: the server a test should talk to: a real Ollama when ``OLLAMA_TEST_SERVER_URL``
  names one, the emulator otherwise. ``.is_emulator`` tells which; ``.faults`` on a real server
  raises "fault injection needs the emulator: unset OLLAMA_TEST_SERVER_URL".
* ``ollama_binary``: path of an executable that accepts ``serve`` like ``ollama``:
  ``OLLAMA_TEST_BINARY`` if set, else the ``ollama-emulator`` console script of this environment.
* ``pulled_model``: pulls ``tiny`` from ``ollama_registry`` into ``ollama_server``; returns its name.

Environment variables: ``OLLAMA_TEST_SERVER_URL`` (run against a real server),
``OLLAMA_TEST_BINARY`` (the ``ollama`` executable for per-task server tests).

This module imports nothing heavy at collection time (no Airflow, no web server), so it costs
nothing in test runs that do not use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
    from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
    from airflow_provider_ollama.testing.external import ExternalOllamaServer
    from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

SERVER_URL_VARIABLE = "OLLAMA_TEST_SERVER_URL"
BINARY_VARIABLE = "OLLAMA_TEST_BINARY"


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """An Ollama server emulator with a fresh models directory, stopped after the test."""
    from airflow_provider_ollama.testing.emulator.server import OllamaEmulator

    with OllamaEmulator() as emulator:
        yield emulator


EmulatorFactory = Callable[..., "OllamaEmulator | OllamaEmulatorProcess"]


@pytest.fixture
def ollama_emulator_factory(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """Start emulators with custom settings: ``factory(settings=None, *, process=False, **overrides)``."""
    from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess

    started: list[OllamaEmulator | OllamaEmulatorProcess] = []

    def factory(
        settings: EmulatorSettings | None = None, *, process: bool = False, **overrides: Any
    ) -> OllamaEmulator | OllamaEmulatorProcess:
        if settings is None and "models_dir" not in overrides:
            overrides["models_dir"] = tmp_path / f"models-{len(started)}"
        handle: OllamaEmulator | OllamaEmulatorProcess
        handle = (
            OllamaEmulatorProcess(settings, **overrides) if process else OllamaEmulator(settings, **overrides)
        )
        started.append(handle)
        return handle.start()

    yield factory
    for handle in reversed(started):
        if isinstance(handle, OllamaEmulatorProcess):
            handle.close()
        else:
            handle.stop()


@pytest.fixture
def ollama_registry() -> Iterator[RegistryEmulator]:
    """A registry emulator with the default catalogue, for one test (see the registry package)."""
    # Imported here, not at the top, to keep plugin loading free of the web server stack.
    from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

    with RegistryEmulator() as registry:
        yield registry


@pytest.fixture(scope="session")
def ollama_registry_session() -> Iterator[RegistryEmulator]:
    """One registry emulator shared by the session: cheaper, but its faults and counters are shared.

    Call ``reset()`` before relying on its counters, and switch off any fault you switch on.
    """
    from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

    with RegistryEmulator() as registry:
        yield registry


@pytest.fixture
def ollama_server() -> Iterator[OllamaEmulator | ExternalOllamaServer]:
    """A real Ollama when ``OLLAMA_TEST_SERVER_URL`` is set, else a fresh emulator."""
    url = os.environ.get(SERVER_URL_VARIABLE, "").strip()
    if url:
        from airflow_provider_ollama.testing.external import ExternalOllamaServer

        yield ExternalOllamaServer(url)
        return
    from airflow_provider_ollama.testing.emulator.server import OllamaEmulator

    with OllamaEmulator() as emulator:
        yield emulator


def emulator_script() -> Path:
    """The ``ollama-emulator`` console script installed beside this Python interpreter."""
    scripts = Path(sys.executable).parent
    return scripts / ("ollama-emulator.exe" if os.name == "nt" else "ollama-emulator")


@pytest.fixture
def ollama_binary() -> Path:
    """Path of an ``ollama``-compatible executable (``OLLAMA_TEST_BINARY`` or ``ollama-emulator``)."""
    configured = os.environ.get(BINARY_VARIABLE, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"{BINARY_VARIABLE}={configured!r} is not an executable file")
        return path
    script = emulator_script()
    if not script.is_file():
        pytest.fail(
            f"no ollama-emulator script at {script}: install the package into this environment "
            "(pip install -e .) or point OLLAMA_TEST_BINARY at an ollama executable"
        )
    return script


@pytest.fixture
def pulled_model(
    ollama_server: OllamaEmulator | ExternalOllamaServer, ollama_registry: RegistryEmulator
) -> str:
    """Pull ``tiny`` from the registry emulator into ``ollama_server``; the name to use with it."""
    import ollama

    name = ollama_registry.model_name("tiny")
    client = ollama.Client(host=ollama_server.url, timeout=120)
    status = client.pull(name, insecure=True)
    assert status.status == "success", f"pulling {name} ended with {status!r}"
    return name
