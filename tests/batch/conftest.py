"""Fixtures for the batch tests: emulated Ollama servers with models pulled, and an S3 bucket on moto.

The emulator fixtures come from the project's pytest plugin; moto's S3 (tests/support/moto_s3.py) is a
real HTTP server reached through an Airflow aws connection whose extra holds endpoint_url.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ollama
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from tests.batch.emulated import EmulatedOllama
from tests.support.moto_s3 import moto_s3, results_bucket

__all__ = ["moto_s3", "results_bucket"]


@pytest.fixture
def emulated_ollama(ollama_emulator_factory: Any, ollama_registry: Any) -> Callable[..., EmulatedOllama]:
    """``start(**settings)``: an emulator with those settings, ``tiny`` and ``tiny-embed`` pulled."""

    def start(**settings: Any) -> EmulatedOllama:
        emulator = ollama_emulator_factory(registry_url=ollama_registry.url, **settings)
        client = ollama.Client(host=emulator.url, timeout=60)
        model = ollama_registry.model_name("tiny")
        embed_model = ollama_registry.model_name("tiny-embed")
        for name in (model, embed_model):
            client.pull(name, insecure=True)
        emulator.stats.reset()
        return EmulatedOllama(emulator, OllamaHook(base_url=emulator.url, timeout=30), model, embed_model)

    return start
