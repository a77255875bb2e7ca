"""Offline stand-ins for Ollama: a server emulator, a registry emulator, synthetic GGUF models.

Names are imported on first use, so ``import airflow_provider_ollama.testing`` (done by the pytest
plugin) stays cheap::

    from airflow_provider_ollama.testing import OllamaEmulator, RegistryEmulator

    with RegistryEmulator() as registry, OllamaEmulator() as server:
        ollama.Client(host=server.url).pull(registry.model_name("tiny"), insecure=True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_ollama.testing.emulator.server import (
        EmulatorStartError,
        OllamaEmulator,
        OllamaEmulatorProcess,
    )
    from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
    from airflow_provider_ollama.testing.external import ExternalOllamaServer, FaultInjectionUnavailableError
    from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF
    from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

_EXPORTS = {
    "OllamaEmulator": "airflow_provider_ollama.testing.emulator.server",
    "OllamaEmulatorProcess": "airflow_provider_ollama.testing.emulator.server",
    "EmulatorStartError": "airflow_provider_ollama.testing.emulator.server",
    "EmulatorSettings": "airflow_provider_ollama.testing.emulator.settings",
    "ExternalOllamaServer": "airflow_provider_ollama.testing.external",
    "FaultInjectionUnavailableError": "airflow_provider_ollama.testing.external",
    "RegistryEmulator": "airflow_provider_ollama.testing.registry.emulator",
    "GGUFSpec": "airflow_provider_ollama.testing.gguf",
    "SyntheticGGUF": "airflow_provider_ollama.testing.gguf",
}

__all__ = [
    "EmulatorSettings",
    "EmulatorStartError",
    "ExternalOllamaServer",
    "FaultInjectionUnavailableError",
    "GGUFSpec",
    "OllamaEmulator",
    "OllamaEmulatorProcess",
    "RegistryEmulator",
    "SyntheticGGUF",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
