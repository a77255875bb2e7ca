"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_ollama import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-ollama",
        "name": "Ollama",
        "description": "Run open models through Ollama from Airflow.",
        "versions": [__version__],
    }
