"""OllamaHook's async methods: the same answers as the sync ones, without sync connection lookups."""

from __future__ import annotations

import asyncio
import json
from typing import NoReturn

import ollama
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator

pytestmark = pytest.mark.asyncio


async def test_aversion_and_ais_ready_answer(hook: OllamaHook, ollama_emulator: OllamaEmulator) -> None:
    assert await hook.aversion() == ollama_emulator.settings.version
    assert await hook.ais_ready() is True


async def test_ais_ready_is_false_once_the_server_stops(ollama_emulator: OllamaEmulator) -> None:
    hook = OllamaHook(base_url=ollama_emulator.url)
    assert await hook.ais_ready(timeout=1) is True
    ollama_emulator.stop()
    assert await hook.ais_ready(timeout=1) is False


async def test_async_model_queries_match_the_sync_ones(hook: OllamaHook, tiny_model: str) -> None:
    listed = await hook.alist_models()
    assert [entry.model for entry in listed] == [tiny_model]
    assert (await hook.ashow(tiny_model)).capabilities == hook.show(tiny_model).capabilities
    assert await hook.ahas_model(tiny_model) is True
    assert await hook.ahas_model("absent-model") is False
    assert await hook.aps() == []


async def test_agenerate_achat_and_aembed_answer(hook: OllamaHook, tiny_model: str, embed_model: str) -> None:
    generated, chatted, embedded = await asyncio.gather(
        hook.agenerate(tiny_model, "Why is the sky blue?", options={"num_predict": 8}),
        hook.achat(tiny_model, [{"role": "user", "content": "Hello"}], options={"num_predict": 8}),
        hook.aembed(embed_model, "one"),
    )
    assert generated.response
    assert chatted.message.content
    assert len(embedded.embeddings) == 1
    assert [entry.model for entry in await hook.aps()] != []


async def test_aget_client_is_cached_per_event_loop(hook: OllamaHook) -> None:
    client = await hook.aget_client()
    assert isinstance(client, ollama.AsyncClient)
    assert await hook.aget_client() is client

    # A client's connection pool belongs to its loop: another loop (another thread here) gets its own.
    other = await asyncio.to_thread(asyncio.run, hook.aget_client())
    assert other is not client


async def test_async_methods_read_the_connection_without_the_blocking_lookup(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_ASYNC",
        json.dumps({"conn_type": "ollama", "host": ollama_emulator.url, "extra": {"keep_alive": "30m"}}),
    )

    def blocking_lookup(conn_id: str) -> NoReturn:
        raise AssertionError(f"sync get_connection({conn_id!r}) called from async code")

    monkeypatch.setattr(
        OllamaHook, "get_connection", classmethod(lambda cls, conn_id: blocking_lookup(conn_id))
    )
    hook = OllamaHook("ollama_async")

    assert await hook.aversion() == ollama_emulator.settings.version
    settings = await hook.asettings()
    assert (settings.base_url, settings.keep_alive) == (ollama_emulator.url, "30m")
    await hook.agenerate(tiny_model, "hi", options={"num_predict": 2})
    (loaded,) = await hook.aps()
    assert loaded.model == tiny_model
