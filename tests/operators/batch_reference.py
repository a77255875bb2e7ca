"""A reference Ollama emulator with the test models pulled: what a single request answers.

The emulator's generation is deterministic (same model, prompt, system and seed, same answer), so a
direct request here says what an operator's or a decorated task's result must be.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ollama
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

#: The options the test DAGs use (see tests/dags/ollama_batch_operators_dag.py).
SEEDED = {"seed": 7, "num_predict": 12}


@dataclass
class Reference:
    """A reference emulator with the test models pulled: what a single request answers."""

    registry: RegistryEmulator
    hook: OllamaHook
    model: str
    embed_model: str

    def generate(self, prompt: str, **kwargs: Any) -> ollama.GenerateResponse:
        return self.hook.generate(self.model, prompt, options=kwargs.pop("options", SEEDED), **kwargs)

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> ollama.ChatResponse:
        return self.hook.chat(self.model, messages, options=kwargs.pop("options", SEEDED), **kwargs)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(vector) for vector in self.hook.embed(self.embed_model, texts).embeddings]

    def conf(self, **overrides: Any) -> dict[str, Any]:
        """The run conf the test DAGs read: these models, from this plain-HTTP registry."""
        return {"model": self.model, "embed_model": self.embed_model, **overrides}


@pytest.fixture(scope="session")
def batch_reference(ollama_registry_session: RegistryEmulator) -> Iterator[Reference]:
    registry = ollama_registry_session
    with OllamaEmulator(registry_url=registry.url) as emulator:
        model, embed_model = registry.model_name("tiny"), registry.model_name("tiny-embed")
        client = ollama.Client(host=emulator.url, timeout=60)
        for name in (model, embed_model):
            client.pull(name, insecure=True)
        yield Reference(registry, OllamaHook(base_url=emulator.url, timeout=30), model, embed_model)
