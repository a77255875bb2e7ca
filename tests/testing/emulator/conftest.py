"""Fixtures for the emulator's store-side tests: an emulator wired to a registry emulator, and clients.

The emulator's ``registry_url`` points at the registry emulator, so plain names (``tiny``) pull from
it as they would from registry.ollama.ai; transfer waits are scaled down so retry tests take
milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import ollama
import pytest
import pytest_asyncio

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry import RegistryEmulator

#: Ollama's retry and stall timings divided by 100 (a 30 s stall limit becomes 0.3 s).
FAST_TRANSFERS = 0.01


@pytest.fixture
def registry(ollama_registry: RegistryEmulator) -> RegistryEmulator:
    return ollama_registry


@pytest.fixture
def server(ollama_emulator_factory: Callable[..., Any], registry: RegistryEmulator) -> OllamaEmulator:
    """An emulator that pulls plain names from the registry emulator."""
    emulator: OllamaEmulator = ollama_emulator_factory(
        registry_url=registry.url, pull_time_scale=FAST_TRANSFERS
    )
    return emulator


@pytest.fixture
def client(server: OllamaEmulator) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.url, timeout=60) as sync_client:
        yield sync_client


@pytest_asyncio.fixture
async def async_client(server: OllamaEmulator) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=server.url, timeout=60) as asynchronous:
        yield asynchronous
