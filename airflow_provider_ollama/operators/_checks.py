"""Argument checks the model operators share, with the task's id in every message.

Template fields are checked once rendered, at the start of ``execute``; a bad value fails before any
server starts or any request is sent, naming the task to fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.templating import require_rendered


@contextlib.contextmanager
def argument_errors(task_id: str) -> Iterator[None]:
    """Put ``task_id`` in front of every ``ValueError`` or ``TypeError`` raised inside, so that a DAG of
    many tasks says which one to fix."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if str(error).startswith(f"{task_id}:"):
            raise
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{task_id}: {error}") from None


def model_name(argument: str, value: object) -> str:
    """A rendered model name, checked against Ollama's naming rules; ``ValueError`` naming ``argument``."""
    require_rendered(argument, value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{argument} must name a model such as 'llama3.2:1b' (got {value!r})")
    ModelName.parse(value)
    return value


def model_list(argument: str, value: object) -> list[str]:
    """A rendered list of model names, checked; ``ValueError`` naming ``argument`` otherwise."""
    require_rendered(argument, value)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(
            f"{argument} rendered to {value!r}; it must be a list of model names such as ['llama3.2:1b'] "
            "(a template that renders a whole list needs render_template_as_native_obj=True on the DAG)"
        )
    return [model_name(argument, model) for model in value]
