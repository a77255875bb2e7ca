"""An emulator serving the real model (``smollm2:135m`` on llama.cpp), for a test module to share.

A load takes a second or more on two shared cores, so modules that test the real engine start one
emulator, pull the model once and reuse its runner; each test asks for a few tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ollama

from airflow_provider_ollama.testing import OllamaEmulator, RegistryEmulator
from airflow_provider_ollama.testing.registry.real_models import SMOLLM2_NAME
from tests.testing.llama.support import smollm2_path

#: Greedy decoding: the same prompt gives the same answer.
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}


@dataclass(frozen=True)
class ServedModel:
    """The emulator, the registry it pulled from, and the pulled model's full name."""

    emulator: OllamaEmulator
    registry: RegistryEmulator
    name: str


@contextmanager
def real_model_emulator(**settings: Any) -> Iterator[ServedModel]:
    """A registry emulator and an emulator (``settings`` as for :class:`OllamaEmulator`) with
    ``smollm2:135m`` pulled; fails, naming the extra, when the real model is not installed."""
    smollm2_path()
    with RegistryEmulator() as registry, OllamaEmulator(registry_url=registry.url, **settings) as emulator:
        name = registry.model_name(SMOLLM2_NAME)
        ollama.Client(host=emulator.url, timeout=120).pull(name, insecure=True)
        yield ServedModel(emulator, registry, name)
