"""Registry emulator fixtures for these tests (the project's pytest plugin offers the same ones)."""

from __future__ import annotations

from airflow_provider_ollama.testing.registry.fixtures import (  # noqa: F401 - fixtures by name
    ollama_registry,
    ollama_registry_session,
)
