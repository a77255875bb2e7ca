"""AsyncClientAdapter: a plain ollama.AsyncClient drives a batch like the hook does, raw errors included."""

from __future__ import annotations

from collections.abc import Callable

import ollama
import pytest

from airflow_provider_ollama.batch import (
    AsyncClientAdapter,
    EmbedBatch,
    GenerateBatch,
    RetryPolicy,
    run_batch,
)
from tests.batch.emulated import EmulatedOllama

pytestmark = pytest.mark.asyncio


async def test_a_raw_client_gives_the_same_answers_as_the_hook(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    server = emulated_ollama(num_parallel=2)
    adapter = AsyncClientAdapter(ollama.AsyncClient(host=server.emulator.url))
    batch = GenerateBatch(server.model, ["one", "two", "three"])

    through_adapter = await run_batch(adapter, batch)
    through_hook = await run_batch(server.hook, batch)

    assert through_adapter.records is not None
    assert through_hook.records is not None
    assert [r.get("response") for r in through_adapter.records] == [
        r.get("response") for r in through_hook.records
    ]
    embedded = await run_batch(adapter, EmbedBatch(server.embed_model, ["a", "b"]))
    assert embedded.summary["succeeded"] == 2


async def test_raw_client_errors_are_classified_too(emulated_ollama: Callable[..., EmulatedOllama]) -> None:
    server = emulated_ollama(num_parallel=2)
    adapter = AsyncClientAdapter(ollama.AsyncClient(host=server.emulator.url))
    server.emulator.faults.fail_next(2, status=503, path="/api/generate")
    retry = RetryPolicy(retry_delay=0.001, max_retry_delay=0.01)

    busy_then_fine = await run_batch(adapter, GenerateBatch(server.model, ["a"]), retry=retry)
    missing = await run_batch(adapter, GenerateBatch("absent", ["a"]), retry=retry, on_error="collect")

    assert busy_then_fine.summary["retries"] == 2
    assert missing.errors[0]["error"] == "ResponseError"
    assert missing.errors[0]["attempts"] == 1
