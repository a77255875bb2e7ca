"""``python -m airflow_provider_ollama.testing.registry``: run the registry emulator in the foreground."""

from __future__ import annotations

import sys

from airflow_provider_ollama.testing.registry.command import run_registry_cli

__all__ = ["run_registry_cli"]

if __name__ == "__main__":
    raise SystemExit(run_registry_cli(sys.argv[1:]))
