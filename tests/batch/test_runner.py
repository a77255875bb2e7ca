"""run_batch against a scripted client: order, concurrency bound, error modes, retries, bounded memory."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import ollama
import pytest

from airflow_provider_ollama.batch import (
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
from tests.batch.stub_client import StubClient

pytestmark = pytest.mark.asyncio

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.005)


def prompts(count: int) -> list[str]:
    return [f"prompt {index}" for index in range(count)]


async def test_results_follow_input_order_whatever_the_completion_order() -> None:
    rng = random.Random(7)
    delays = {prompt: rng.uniform(0, 0.02) for prompt in prompts(60)}
    client = StubClient(latency=delays.__getitem__)

    outcome = await run_batch(client, GenerateBatch("tiny", prompts(60)), max_concurrency=8)

    assert outcome.records is not None
    assert [record["index"] for record in outcome.records] == list(range(60))
    assert [record["response"] for record in outcome.records] == [f"echo prompt {i}" for i in range(60)]  # type: ignore[typeddict-item]
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

    assert outcome.records is not None
    assert outcome.summary["succeeded"] == 6
    assert outcome.summary["failed"] == 2
    assert outcome.records[2] == {
        "index": 2,
        "error": "OllamaBadRequestError",
        "message": "bad image",
        "attempts": 1,
    }
    assert outcome.records[5]["error"] == "ResponseError"  # type: ignore[typeddict-item]
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


async def test_retries_stop_after_max_attempts() -> None:
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

    assert outcome.records is not None
    assert outcome.records[0]["response"] == {"n": 1}  # type: ignore[typeddict-item]
    assert outcome.records[1]["error"] == "ResponseFormatError"  # type: ignore[typeddict-item]
    assert "'one' is not of type 'integer' at n" in outcome.records[1]["message"]  # type: ignore[typeddict-item]
    assert "not valid JSON" in outcome.records[2]["message"]  # type: ignore[typeddict-item]
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


async def test_item_images_are_sent_after_the_shared_ones() -> None:
    client = StubClient()
    batch = GenerateBatch(
        "tiny",
        ["plain", {"prompt": "describe", "images": ["aW1n"]}],
        options=GenerationOptions(images=["c2hhcmVk"]),
    )

    await run_batch(client, batch, max_concurrency=1)

    assert [kwargs["images"] for kwargs in client.kwargs] == [["c2hhcmVk"], ["c2hhcmVk", "aW1n"]]


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
    assert outcome.records is not None
    assert outcome.records[0]["tool_calls"] == [call]  # type: ignore[typeddict-item]
    assert outcome.records[0]["response"] == ""  # type: ignore[typeddict-item]


async def test_embed_inputs_go_in_sub_batches_and_come_back_one_vector_each() -> None:
    client = StubClient()
    inputs = [f"text number {index}" for index in range(10)]

    outcome = await run_batch(client, EmbedBatch("tiny-embed", inputs, batch_size=4))

    assert [len(kwargs["input"]) for kwargs in client.kwargs] == [4, 4, 2]
    assert outcome.records is not None
    assert [record["index"] for record in outcome.records] == list(range(10))
    assert outcome.records[3] == {"index": 3, "embedding": [13.0, 1.0]}
    assert outcome.summary["prompt_eval_count"] == 30


async def test_one_bad_embed_input_fails_alone_not_its_whole_sub_batch() -> None:
    client = StubClient(failures={"bad": [OllamaBadRequestError("input length exceeds the context length")]})
    inputs = ["a", "b", "bad", "d"]

    outcome = await run_batch(client, EmbedBatch("tiny-embed", inputs, batch_size=4), on_error="collect")

    assert outcome.records is not None
    assert [("error" in record) for record in outcome.records] == [False, False, True, False]
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
