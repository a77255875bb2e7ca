"""Per-task Ollama servers: ``LocalOllamaServer`` and the pieces it is made of.

``binary`` finds ``ollama``, ``settings`` says what a server is (``LocalServer``) and turns that into its
environment, ``process`` supervises it, ``preparation`` gets models onto it, ``local`` puts them together
for the life of one task.
"""

from __future__ import annotations

from airflow_provider_ollama.server.binary import find_ollama_binary
from airflow_provider_ollama.server.local import LocalOllamaServer
from airflow_provider_ollama.server.preparation import ModelPreparer, PullModels
from airflow_provider_ollama.server.settings import LocalServer, gpu_environment

__all__ = [
    "LocalOllamaServer",
    "LocalServer",
    "ModelPreparer",
    "PullModels",
    "find_ollama_binary",
    "gpu_environment",
]
