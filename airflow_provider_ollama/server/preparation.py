"""How the models a task names get onto its server: the seam between a server and where models come from.

The default pulls from the registry; the S3 cache supplies its own preparer that restores blobs before
pulling and saves new ones afterwards, without the server class knowing about S3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from airflow_provider_ollama.pulling.missing import pull_missing_models

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_ollama.hooks.ollama import OllamaHook


@runtime_checkable
class ModelPreparer(Protocol):
    """Makes models available on a running per-task server.

    ``prepare`` runs once the server answers HTTP, before the task's work, with a hook on the server and
    its model store (``OLLAMA_MODELS``); afterwards every named model must be on the server (the server
    checks).
    """

    def prepare(self, hook: OllamaHook, models: Sequence[str], *, models_dir: Path) -> None: ...


class PullModels:
    """The default preparer: pull each model the server does not have yet from its registry.

    :param insecure: allow plain-HTTP registries and unverified TLS (private registries in a lab).
    """

    def __init__(self, *, insecure: bool = False) -> None:
        self.insecure = insecure

    def prepare(self, hook: OllamaHook, models: Sequence[str], *, models_dir: Path) -> None:
        pull_missing_models(hook, models, insecure=self.insecure)

    def __repr__(self) -> str:
        return f"PullModels(insecure={self.insecure})"
