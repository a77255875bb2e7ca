"""Argument checks the model operators share, with the task's id in every message.

A bad name fails when the DAG is parsed (or when templates are rendered), naming the task to fix.
"""

from __future__ import annotations

from airflow_provider_ollama.names import ModelName


def check_model_name(task_id: str, name: str) -> None:
    """Raise ``ValueError`` naming the task unless ``name`` follows Ollama's model-name rules."""
    try:
        ModelName.parse(name)
    except ValueError as error:
        raise ValueError(f"{task_id}: {error}") from None
