"""run_batch against a scripted client: order, concurrency bound, error modes, retries, bounded memory."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import ollama
import pytest

from airflow_provider_ollama.batch import (
    BatchOutcome,
    ChatBatch,
    EmbedBatch,
    GenerateBatch,
    GenerationOptions,
    RetryPolicy,
    run_batch,
)
from airflow_provider_ollama.exceptions import (
    OllamaBadRequestError,
    OllamaGenerationError,
    OllamaServerBusyError,
)
from tests.batch.emulated import EmulatedOllama
from tests.batch.stub_client import StubClient

pytestmark = pytest.mark.asyncio

FAST_RETRY = RetryPolicy(retries=3, retry_delay=0.001, max_retry_delay=0.005)


def records_of(outcome: BatchOutcome) -> list[dict[str, Any]]:
    """The outcome's records as plain dicts (the TypedDict union is for callers, not for asserts)."""
    assert outcome.records is not None
    return [dict(record) for record in outcome.records]


def prompts(count: int) -> list[str]:
    return [f"prompt {index}" for index in range(count)]


async def test_results_follow_input_order_whatever_the_completion_order() -> None:
    rng = random.Random(7)
    delays = {prompt: rng.uniform(0, 0.02) for prompt in prompts(60)}
    client = StubClient(latency=delays.__getitem__)

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(60)), max_concurrency=8)

    records = records_of(outcome)
    assert [record["index"] for record in records] == list(range(60))
    assert [record["response"] for record in records] == [f"echo prompt {i}" for i in range(60)]
    assert client.finished != prompts(60)  # the server finished them out of order
    assert outcome.summary["succeeded"] == 60


async def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    client = StubClient(latency=0.005)

    await run_batch(client, GenerateBatch("tiny", prompts(50)), max_concurrency=5)

    assert client.peak_in_flight == 5


async def test_a_large_batch_keeps_only_max_concurrency_coroutines_alive() -> None:
    client = StubClient(latency=0.0)
    peak_tasks = 0

    async def watch() -> None:
        nonlocal peak_tasks
        while True:
            peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    outcome = await run_batch(client, GenerateBatch("tiny", prompts(5_000)), max_concurrency=4)
    watcher.cancel()

    assert outcome.summary["succeeded"] == 5_000
    # 4 workers, the progress ticker, the watcher and this test's own task.
    assert peak_tasks <= 4 + 3


async def test_fail_mode_cancels_outstanding_requests_and_names_the_item() -> None:
    bad = OllamaBadRequestError("invalid option 'num_ctx'")
    client = StubClient(
        latency=lambda prompt: 0.0 if prompt == "prompt 3" else 30.0,
        failures={"prompt 3": [bad]},
    )
    started = time.monotonic()

    with pytest.raises(OllamaGenerationError, match=r"item 3 failed after 1 attempt\(s\).*num_ctx") as caught:
        await run_batch(client, GenerateBatch("tiny", prompts(100)), max_concurrency=8)

    assert time.monotonic() - started < 5
    assert caught.value.__cause__ is bad
    assert client.cancelled == 7  # the other requests in flight
    assert len(client.calls) == 8  # nothing was sent after the failure


async def test_collect_mode_finishes_the_batch_and_records_each_failure() -> None:
    client = StubClient(
        failures={
            "prompt 2": [OllamaBadRequestError("bad image")],
            "prompt 5": [ollama.ResponseError("model 'tiny' not found", 404)],
        }
    )

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(8)), on_error="collect")

    records = records_of(outcome)
    assert outcome.summary["succeeded"] == 6
    assert outcome.summary["failed"] == 2
    assert records[2] == {
        "index": 2,
        "error": "OllamaBadRequestError",
        "message": "bad image",
        "attempts": 1,
    }
    assert records[5]["error"] == "ResponseError"
    with pytest.raises(
        OllamaGenerationError, match=r"2 of 8 items failed\. First: item 2: OllamaBadRequestError"
    ):
        outcome.raise_for_failures()


async def test_transient_errors_are_retried_with_backoff_until_the_item_succeeds() -> None:
    client = StubClient(
        failures={
            "prompt 1": [OllamaServerBusyError("server busy"), OllamaServerBusyError("server busy")],
            "prompt 4": [ollama.ResponseError("boom", 500), ConnectionResetError("reset by peer")],
        }
    )

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(6)), retry=FAST_RETRY)

    assert outcome.summary["succeeded"] == 6
    assert outcome.summary["retries"] == 4
    assert outcome.summary["requests"] == 10
    assert client.calls.count("prompt 1") == 3


async def test_client_errors_are_never_retried() -> None:
    client = StubClient(failures={"prompt 0": [ollama.ResponseError("invalid format", 400)] * 4})

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(2)), on_error="collect", retry=FAST_RETRY)

    assert client.calls.count("prompt 0") == 1
    assert outcome.errors[0]["attempts"] == 1


async def test_retries_stop_after_the_last_retry() -> None:
    client = StubClient(failures={"prompt 0": [OllamaServerBusyError("server busy")] * 10})

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(1)), on_error="collect", retry=FAST_RETRY)

    assert client.calls.count("prompt 0") == 4
    assert outcome.errors[0]["error"] == "OllamaServerBusyError"
    assert outcome.errors[0]["attempts"] == 4


async def test_a_response_that_breaks_the_schema_is_an_item_error() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    answers = {"prompt 0": '{"n": 1}', "prompt 1": '{"n": "one"}', "prompt 2": "not json"}
    client = StubClient(text=answers.__getitem__)
    batch = GenerateBatch("tiny", prompts(3), options=GenerationOptions(format=schema))

    outcome = await run_batch(client, batch, on_error="collect", retry=FAST_RETRY)

    records = records_of(outcome)
    assert records[0]["response"] == {"n": 1}
    assert records[1]["error"] == "ResponseFormatError"
    assert "'one' is not of type 'integer' at n" in records[1]["message"]
    assert "not valid JSON" in records[2]["message"]
    assert len(client.calls) == 3  # format errors are not retried


async def test_generate_items_carry_metrics_and_shared_options() -> None:
    client = StubClient()
    options = GenerationOptions(system="be brief", options={"seed": 1}, keep_alive="5m", think=False)

    outcome = await run_batch(client, GenerateBatch("tiny", ["one two"], options=options))

    assert outcome.records == [
        {
            "index": 0,
            "response": "echo one two",
            "done_reason": "stop",
            "prompt_eval_count": 2,
            "eval_count": 3,
            "total_duration": 2_000_000,
            "load_duration": 1_000,
            "eval_duration": 1_000_000,
            "tokens_per_second": 3000.0,
        }
    ]
    assert client.kwargs[0] == {
        "system": "be brief",
        "options": {"seed": 1},
        "keep_alive": "5m",
        "think": False,
    }


async def test_an_items_images_and_template_go_with_that_item_alone() -> None:
    client = StubClient()
    batch = GenerateBatch(
        "tiny",
        ["plain", {"prompt": "describe", "images": ["aW1n"], "template": "{{ .Prompt }}!"}],
        options=GenerationOptions(system="be brief"),
    )

    await run_batch(client, batch, max_concurrency=1)

    assert client.kwargs == [
        {"system": "be brief"},
        {"system": "be brief", "images": ["aW1n"], "template": "{{ .Prompt }}!"},
    ]


async def test_chat_items_get_the_shared_system_prompt_and_report_tool_calls() -> None:
    call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    client = StubClient(tool_calls=[call])
    conversations = [
        [{"role": "user", "content": "weather?"}],
        [{"role": "system", "content": "own"}, {"role": "user", "content": "and here?"}],
    ]
    batch = ChatBatch("tiny", conversations, options=GenerationOptions(system="shared"))

    outcome = await run_batch(client, batch, max_concurrency=1)

    assert [kwargs["messages"][0]["content"] for kwargs in client.kwargs] == ["shared", "own"]
    records = records_of(outcome)
    assert records[0]["tool_calls"] == [call]
    assert records[0]["response"] == ""


async def test_embed_inputs_go_in_sub_batches_and_come_back_one_vector_each() -> None:
    client = StubClient()
    inputs = [f"text number {index}" for index in range(10)]

    outcome = await run_batch(client, EmbedBatch("tiny-embed", inputs, batch_size=4))

    assert [len(kwargs["input"]) for kwargs in client.kwargs] == [4, 4, 2]
    records = records_of(outcome)
    assert [record["index"] for record in records] == list(range(10))
    assert records[3] == {"index": 3, "embedding": [13.0, 1.0]}
    assert outcome.summary["prompt_eval_count"] == 30


async def test_one_bad_embed_input_fails_alone_not_its_whole_sub_batch() -> None:
    client = StubClient(failures={"bad": [OllamaBadRequestError("input length exceeds the context length")]})
    inputs = ["a", "b", "bad", "d"]

    outcome = await run_batch(client, EmbedBatch("tiny-embed", inputs, batch_size=4), on_error="collect")

    records = records_of(outcome)
    assert [("error" in record) for record in records] == [False, False, True, False]
    assert outcome.summary["failed"] == 1


async def test_progress_is_logged_at_intervals_not_per_item(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.batch.progress")
    caplog.set_level(logging.INFO, logger=log.name)

    await run_batch(StubClient(), GenerateBatch("tiny", prompts(1_000)), log=log)

    lines = [record.getMessage() for record in caplog.records]
    progress = [line for line in lines if "items (" in line]
    assert 5 <= len(progress) <= 10
    summary = [line for line in lines if " done: " in line]
    assert len(summary) == 1
    assert summary[0].startswith("generate batch on tiny done: 1000 items, 1000 succeeded, 0 failed")


# --- against the emulator ---------------------------------------------------------------------------


@pytest.mark.smoke
async def test_a_batch_returns_what_single_requests_return_in_input_order(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    server = emulated_ollama(num_parallel=4, request_latency_seconds=0.01)
    items = [f"Tell me about topic {index}" for index in range(12)]
    options = GenerationOptions(options={"seed": 3, "num_predict": 12})

    outcome = await run_batch(
        server.hook, GenerateBatch(server.model, items, options=options), max_concurrency=4
    )

    one_by_one = [
        (await server.hook.agenerate(server.model, item, options={"seed": 3, "num_predict": 12})).response
        for item in items
    ]
    records = records_of(outcome)
    assert [record["response"] for record in records] == one_by_one
    assert outcome.summary["eval_count"] == sum(record["eval_count"] for record in records)


async def test_the_emulator_never_sees_more_requests_at_once_than_max_concurrency(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    server = emulated_ollama(num_parallel=16, request_latency_seconds=0.03)

    await run_batch(server.hook, GenerateBatch(server.model, prompts(40)), max_concurrency=5)

    assert server.scheduler_stats()["peak_active"] == 5
    assert server.generate_requests() == 40


async def test_busy_answers_from_a_full_load_queue_are_retried_until_done(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    # Ollama queues (and counts against OLLAMA_MAX_QUEUE) only requests waiting for a model to load:
    # the burst a cold batch sends while the model loads is where its 503s come from.
    server = emulated_ollama(num_parallel=1, max_queue=1, load_seconds=0.2, request_latency_seconds=0.02)
    retry = RetryPolicy(retries=29, retry_delay=0.05, max_retry_delay=0.2)

    outcome = await run_batch(
        server.hook, GenerateBatch(server.model, prompts(10)), max_concurrency=4, retry=retry
    )

    assert outcome.summary["succeeded"] == 10
    assert server.scheduler_stats()["rejected"] > 0
    assert outcome.summary["retries"] == server.scheduler_stats()["rejected"]


async def test_a_loaded_model_queues_a_batch_without_busy_answers(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    # Once the model is loaded, requests beyond its slots wait in the runner, whatever OLLAMA_MAX_QUEUE.
    server = emulated_ollama(num_parallel=1, max_queue=1, request_latency_seconds=0.01)
    await server.hook.agenerate(server.model, "load it")

    outcome = await run_batch(server.hook, GenerateBatch(server.model, prompts(12)), max_concurrency=6)

    assert outcome.summary["succeeded"] == 12
    assert outcome.summary["retries"] == 0
    assert server.scheduler_stats()["rejected"] == 0
    assert server.scheduler_stats()["peak_waiting"] == 5


async def test_injected_server_errors_are_retried(emulated_ollama: Callable[..., EmulatedOllama]) -> None:
    server = emulated_ollama(num_parallel=2)
    server.emulator.faults.fail_next(3, status=500, path="/api/generate")

    outcome = await run_batch(server.hook, GenerateBatch(server.model, prompts(6)), retry=FAST_RETRY)

    assert outcome.summary["succeeded"] == 6
    assert outcome.summary["retries"] == 3
    assert server.generate_requests() == 9


async def test_a_missing_model_fails_fast_without_retries(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    server = emulated_ollama(num_parallel=2)

    with pytest.raises(
        OllamaGenerationError, match=r"item \d+ failed after 1 attempt\(s\): OllamaModelNotFoundError"
    ):
        await run_batch(server.hook, GenerateBatch("no-such-model", prompts(20)), retry=FAST_RETRY)

    assert server.generate_requests() <= 8


async def test_schema_results_from_the_emulator_are_parsed_and_conform(
    emulated_ollama: Callable[..., EmulatedOllama],
) -> None:
    server = emulated_ollama(num_parallel=2)
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    batch = GenerateBatch(server.model, prompts(4), options=GenerationOptions(format=schema))

    outcome = await run_batch(server.hook, batch)

    records = records_of(outcome)
    assert all(isinstance(record["response"]["age"], int) for record in records)


async def test_chat_batches_answer_each_conversation(emulated_ollama: Callable[..., EmulatedOllama]) -> None:
    server = emulated_ollama(num_parallel=2)
    conversations = [[{"role": "user", "content": f"question {index}"}] for index in range(3)]

    outcome = await run_batch(server.hook, ChatBatch(server.model, conversations))

    records = records_of(outcome)
    assert all(record["response"] and record["eval_count"] > 0 for record in records)


async def test_embed_sub_batches_are_one_request_each(emulated_ollama: Callable[..., EmulatedOllama]) -> None:
    server = emulated_ollama(num_parallel=2)
    texts = [f"sentence {index}" for index in range(10)]

    outcome = await run_batch(server.hook, EmbedBatch(server.embed_model, texts, batch_size=4))

    assert server.emulator.stats.requests_to("POST", "/api/embed") == 3
    records = records_of(outcome)
    lengths = {round(sum(value * value for value in record["embedding"]), 6) for record in records}
    assert lengths == {1.0}  # L2-normalised, one vector per input
    assert outcome.summary["prompt_eval_count"] > 0
