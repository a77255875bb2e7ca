"""Fixtures for the emulator's store-side tests: an emulator wired to a registry emulator, and clients.

The emulator's ``registry_url`` points at the registry emulator, so plain names (``tiny``) pull from
it as they would from registry.ollama.ai; transfer waits are scaled down so retry tests take
milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
import pytest_asyncio

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from airflow_provider_ollama.testing.registry import RegistryEmulator
from tests.testing.emulator.openapi import NDJSON

CATALOGUE_MODELS = ("tiny", "tiny-embed", "tiny-think")

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


# Inference tests: an emulator on a copy of a store the catalogue models were pulled into once.


@dataclass
class Emulator:
    url: str
    state: EmulatorState

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30, **kwargs)

    def lines(self, path: str, body: Any) -> list[dict[str, Any]]:
        response = self.post(path, body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == NDJSON
        assert response.text.endswith("\n")
        assert "\n\n" not in response.text, "Ollama never sends blank lines"
        return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture(scope="module")
def pulled_models(
    tmp_path_factory: pytest.TempPathFactory, ollama_registry_session: RegistryEmulator
) -> Path:
    """A models directory holding tiny, tiny-embed and tiny-think, pulled once from the registry emulator."""
    models = tmp_path_factory.mktemp("pulled") / "models"
    with OllamaEmulator(models_dir=models, registry_url=ollama_registry_session.url) as emulator:
        client = ollama.Client(host=emulator.url, timeout=120)
        for name in CATALOGUE_MODELS:
            assert client.pull(name, insecure=True).status == "success"
    return models


@pytest.fixture
def start(
    ollama_emulator_factory: Callable[..., Any], pulled_models: Path, tmp_path: Path
) -> Callable[..., Emulator]:
    """Start an emulator on a copy of the pulled store; keyword arguments are settings."""

    def _start(**settings: Any) -> Emulator:
        # Inference never writes to the store, so hard links make each test's copy cheap.
        models = tmp_path / f"models-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(pulled_models, models, copy_function=os.link)
        handle = ollama_emulator_factory(models_dir=models, **settings)
        return Emulator(handle.url, handle.state)

    return _start


@pytest.fixture
def emulator(start: Callable[..., Emulator]) -> Emulator:
    return start()
