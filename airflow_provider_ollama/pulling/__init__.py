"""Robust model pulls: stall detection, retries with backoff and readable progress, for worker and triggerer.

``await pull_models(hook, ["llama3.2:1b"], logger=log)`` returns each model's digest and summary line
(``pull_models_blocking`` from synchronous code).
"""

from __future__ import annotations

from airflow_provider_ollama.pulling.missing import pull_missing_models
from airflow_provider_ollama.pulling.progress import PullProgressReporter
from airflow_provider_ollama.pulling.retry import (
    PulledModel,
    PullRetryPolicy,
    PullStalledError,
    pull_models,
    pull_models_blocking,
)

__all__ = [
    "PullProgressReporter",
    "PullRetryPolicy",
    "PullStalledError",
    "PulledModel",
    "pull_missing_models",
    "pull_models",
    "pull_models_blocking",
]
