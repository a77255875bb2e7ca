"""Everything one running emulator holds: settings, store, faults, stats and the scheduler.

Handlers reach it as ``request.app.state.emulator``; it is also the object the Python handle and the
control endpoints act on, so a test and the server always see the same switches and counters.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing.emulator import catalog
from airflow_provider_ollama.testing.emulator.engine import EngineRegistry
from airflow_provider_ollama.testing.emulator.faults import Faults
from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.stats import Stats

INVALID_MODEL_NAME = "invalid model name"


def parse_model_name(text: str) -> ModelName:
    """Parse a model name from a request; 400 ``invalid model name`` (Ollama's words) if it is not one."""
    try:
        return ModelName.parse(text)
    except InvalidModelNameError:
        raise ApiError(400, INVALID_MODEL_NAME) from None


def _make_scheduler(settings: EmulatorSettings, engines: EngineRegistry) -> Any:
    from airflow_provider_ollama.testing.emulator.scheduler import Scheduler

    return Scheduler(settings, engines=engines)


def _engines(store: ModelStore, settings: EmulatorSettings) -> EngineRegistry:
    """The synthetic engine, and llama.cpp for models with real weights (when the extra is installed)."""
    from airflow_provider_ollama.testing.emulator.llama.serving import llama_claim

    return EngineRegistry([llama_claim(store, threads=settings.llama_threads)])


class EmulatorState:
    """The shared state of one emulator instance."""

    def __init__(self, settings: EmulatorSettings, *, exit_allowed: bool = False) -> None:
        self.settings = settings
        self.store = ModelStore(settings.models_dir)
        self.faults = Faults(exit_allowed=exit_allowed)
        self.stats = Stats()
        #: Which engine answers for each model (the synthetic one unless another claims it).
        self.engines = _engines(self.store, settings)
        self.scheduler = _make_scheduler(settings, self.engines)
        #: Monotonic time before which HTTP requests wait (``start_delay_seconds``).
        self.ready_at = time.monotonic() + settings.start_delay_seconds
        #: Blob downloads in flight, shared by concurrent pulls of the same digest.
        self.downloads: dict[str, Any] = {}

    @property
    def models_dir(self) -> Path:
        return self.store.root

    def find_model(self, name: str) -> LocalModel | None:
        """The local model a request names, resolved case-insensitively.

        Raises ``ApiError(400, "invalid model name")`` for a malformed name; returns None when the
        model is absent or unusable (e.g. its config blob is missing), which handlers turn into
        their own "not found" message.
        """
        return catalog.load_model(self.store, parse_model_name(name))

    def load(self, name: ModelName) -> LocalModel | None:
        """:meth:`find_model` for an already parsed name."""
        return catalog.load_model(self.store, name)

    def existing_name(self, name: ModelName) -> ModelName:
        """``name`` with each part spelled as it already is on disk (Ollama's ``getExistingName``),
        so writes to an existing model in another letter case land on the same files."""
        parts = list(name.manifest_path.parts)
        directory = self.store.manifests_dir
        resolved: list[str] = []
        for part in parts:
            match = part if (directory / part).exists() else None
            if match is None and directory.is_dir():
                folded = part.lower()
                match = next(
                    (entry.name for entry in directory.iterdir() if entry.name.lower() == folded), None
                )
            resolved.append(match or part)
            directory = directory / (match or part)
        host, namespace, model, tag = resolved
        return ModelName(host=host, namespace=namespace, model=model, tag=tag, scheme=name.scheme)
