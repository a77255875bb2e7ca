"""Models for the hook tests, pulled into the plugin's ``ollama_emulator`` from its shared registry."""

from __future__ import annotations

import ollama
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


@pytest.fixture
def hook(ollama_emulator: OllamaEmulator) -> OllamaHook:
    """A hook on the test's emulator, named by URL (no connection)."""
    return OllamaHook(base_url=ollama_emulator.url, timeout=30)


def _pull(emulator: OllamaEmulator, name: str) -> str:
    # Through the official client, so that hook tests do not depend on the hook's own pull.
    ollama.Client(host=emulator.url, timeout=30).pull(name, insecure=True)
    return name


@pytest.fixture
def tiny_model(ollama_emulator: OllamaEmulator, ollama_registry_session: RegistryEmulator) -> str:
    """A small generative model on the emulator, by its full name."""
    return _pull(ollama_emulator, ollama_registry_session.model_name("tiny"))


@pytest.fixture
def embed_model(ollama_emulator: OllamaEmulator, ollama_registry_session: RegistryEmulator) -> str:
    """A small embedding-only model on the emulator."""
    return _pull(ollama_emulator, ollama_registry_session.model_name("tiny-embed"))
