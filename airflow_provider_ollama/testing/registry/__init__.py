"""An Ollama registry emulator: synthetic models served over the pull and push protocol.

Start one with :class:`RegistryEmulator` (or the ``ollama_registry`` pytest fixture, or
``python -m airflow_provider_ollama.testing.registry``) and pull ``registry.model_name("tiny")``.
"""

from __future__ import annotations

from airflow_provider_ollama.testing.registry.catalogue import (
    DEFAULT_BIG_SIZE,
    DEFAULT_MODELS,
    Catalogue,
    RegistryModel,
    RegistryModelSpec,
    big_model_spec,
    build_model,
    default_catalogue,
)
from airflow_provider_ollama.testing.registry.command import run_registry_cli
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from airflow_provider_ollama.testing.registry.faults import Fault, Faults, FaultType
from airflow_provider_ollama.testing.registry.stats import StatsSnapshot

__all__ = [
    "DEFAULT_BIG_SIZE",
    "DEFAULT_MODELS",
    "Catalogue",
    "Fault",
    "FaultType",
    "Faults",
    "RegistryEmulator",
    "RegistryModel",
    "RegistryModelSpec",
    "StatsSnapshot",
    "big_model_spec",
    "build_model",
    "default_catalogue",
    "run_registry_cli",
]
