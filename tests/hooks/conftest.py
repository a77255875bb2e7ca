"""Servers for the hook tests: a registry emulator, a fresh Ollama emulator per test, models pulled into it."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryEmulator]:
    """A registry serving the default catalogue (``tiny``, ``tiny-embed``...), shared by the session."""
    with RegistryEmulator() as running:
        yield running


@pytest.fixture
def emulator() -> Iterator[OllamaEmulator]:
    """An Ollama emulator with an empty store of its own."""
    with OllamaEmulator() as running:
        yield running


@pytest.fixture
def hook(emulator: OllamaEmulator) -> OllamaHook:
    return OllamaHook(base_url=emulator.url, timeout=30)


def _pull(emulator: OllamaEmulator, name: str) -> str:
    # Through the official client, so that hook tests do not depend on the hook's own pull.
    ollama.Client(host=emulator.url, timeout=30).pull(name, insecure=True)
    return name


@pytest.fixture
def tiny_model(emulator: OllamaEmulator, registry: RegistryEmulator) -> str:
    """A small generative model on the emulator, by its full name."""
    return _pull(emulator, registry.model_name("tiny"))


@pytest.fixture
def embed_model(emulator: OllamaEmulator, registry: RegistryEmulator) -> str:
    """A small embedding-only model on the emulator."""
    return _pull(emulator, registry.model_name("tiny-embed"))
