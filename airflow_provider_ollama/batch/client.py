"""The three async calls the batch engine needs, as a Protocol the hook satisfies.

The engine depends on this, not on the hook, so tests can hand it a stub and benchmarks a plain
``ollama.AsyncClient`` (through :class:`AsyncClientAdapter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import ollama
from ollama import ChatResponse, EmbedResponse, GenerateResponse


class GenerationClient(Protocol):
    """What ``OllamaHook`` offers for generation: one request each, typed errors on failure."""

    async def agenerate(self, model: str, prompt: str, **kwargs: Any) -> GenerateResponse: ...

    async def achat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> ChatResponse: ...

    async def aembed(self, model: str, input: str | Sequence[str], **kwargs: Any) -> EmbedResponse: ...


class AsyncClientAdapter:
    """A plain ``ollama.AsyncClient`` seen as a :class:`GenerationClient` (raw client errors, no hook)."""

    def __init__(self, client: ollama.AsyncClient) -> None:
        self._client = client

    async def agenerate(self, model: str, prompt: str, **kwargs: Any) -> GenerateResponse:
        response: GenerateResponse = await self._client.generate(model, prompt, stream=False, **kwargs)
        return response

    async def achat(self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> ChatResponse:
        response: ChatResponse = await self._client.chat(model, messages, stream=False, **kwargs)
        return response

    async def aembed(self, model: str, input: str | Sequence[str], **kwargs: Any) -> EmbedResponse:
        return await self._client.embed(model, input, **kwargs)
