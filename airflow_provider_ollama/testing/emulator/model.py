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
    #: ``Model.Capabilities``: what /api/show lists and generate, chat and embed check.
    capabilities: tuple[str, ...] = ()
    #: What /api/tags lists, by Ollama's other set of rules (``buildModelListSummary``).
    list_capabilities: tuple[str, ...] = ()
    #: True when Ollama renders the prompt (Go TEMPLATE, renderer, parser); False when llama-server
    #: chats with the GGUF's own template (``chatModeForModel``), which changes some answers.
    rendered_chat: bool = True
    #: Whether the manifest has a template layer (else Ollama's default ``{{ .Prompt }}`` applies).
    has_template_layer: bool = False

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
