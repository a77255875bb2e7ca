"""A model as the emulator sees it once resolved from the store: manifest, config and layer contents.

The store side of the emulator builds these; the inference side (generate, chat, embed, scheduling)
only reads them, so this record is the contract between the two halves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest


@dataclass(frozen=True)
class LocalModel:
    """A model present in the emulator's store, with everything generation needs."""

    name: ModelName
    manifest: Manifest
    config: dict[str, Any]  # the config blob's JSON
    modified_at: datetime  # the manifest file's mtime
    template: str = ""
    system: str = ""
    license: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)  # params layer, typed as Ollama types them
    messages: tuple[dict[str, Any], ...] = ()
    gguf_metadata: dict[str, Any] = field(default_factory=dict)  # from the model layer's GGUF header
    capabilities: tuple[str, ...] = ()  # "completion", "embedding", "thinking", "tools", "insert", "vision"

    @property
    def digest_hex(self) -> str:
        """The model digest as /api/tags and /api/ps show it: hex sha256 of the manifest bytes."""
        return self.manifest.digest.removeprefix("sha256:")

    @property
    def size(self) -> int:
        """Sum of layer and config sizes, as Ollama reports it."""
        return self.manifest.total_size

    @property
    def architecture(self) -> str:
        return str(
            self.gguf_metadata.get("general.architecture") or self.config.get("model_family") or "llama"
        )

    @property
    def context_length(self) -> int:
        return int(self.gguf_metadata.get(f"{self.architecture}.context_length") or 4096)

    @property
    def embedding_length(self) -> int:
        return int(self.gguf_metadata.get(f"{self.architecture}.embedding_length") or 384)

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities
