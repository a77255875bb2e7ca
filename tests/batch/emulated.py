"""An emulated Ollama server as the batch tests use it: the handle, a hook on it, the pulled models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_ollama.hooks.ollama import OllamaHook


@dataclass
class EmulatedOllama:
    """An emulator handle (``.faults``, ``.stats``, ``.state``), a hook on it and the pulled models."""

    emulator: Any
    hook: OllamaHook
    model: str
    embed_model: str

    def generate_requests(self) -> int:
        return int(self.emulator.stats.requests_to("POST", "/api/generate"))

    def scheduler_stats(self) -> dict[str, int]:
        return dict(self.emulator.state.scheduler.stats.snapshot())
