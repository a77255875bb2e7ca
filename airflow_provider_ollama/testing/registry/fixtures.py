"""pytest fixtures that start a registry emulator on a free 127.0.0.1 port and stop it afterwards.

The project's pytest plugin re-exports them; a conftest can also import them directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


@pytest.fixture
def ollama_registry() -> Iterator[RegistryEmulator]:
    """A running registry emulator with the default catalogue, for one test."""
    with RegistryEmulator() as registry:
        yield registry


@pytest.fixture(scope="session")
def ollama_registry_session() -> Iterator[RegistryEmulator]:
    """One registry emulator shared by a whole session: cheaper, but faults and counters are shared.

    Call ``reset()`` before relying on its counters, and switch off any fault you switch on.
    """
    with RegistryEmulator() as registry:
        yield registry
