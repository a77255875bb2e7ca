"""JsonlResultSink with run_batch: ordered JSONL output, resume after failures and crashes, refusals."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_ollama.batch import (
    BatchOutcome,
    BatchOutputConflictError,
    BatchOutputCorruptError,
    GenerateBatch,
    GenerationOptions,
    JsonlResultSink,
    RetryPolicy,
    run_batch,
)
from airflow_provider_ollama.exceptions import OllamaBadRequestError, OllamaGenerationError
from tests.batch.emulated import EmulatedOllama
from tests.batch.stub_client import StubClient

pytestmark = pytest.mark.asyncio


class SimulatedCrash(BaseException):
    """Stands in for a killed worker: not an Exception, so nothing in the engine handles it."""


class CrashingClient(StubClient):
    """Answers ``crash_after`` generate calls, then crashes on the next one."""

    def __init__(self, crash_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._left = crash_after

    async def agenerate(self, model: str, prompt: str, **kwargs: Any) -> Any:
        if self._left == 0:
            raise SimulatedCrash
        self._left -= 1
        return await super().agenerate(model, prompt, **kwargs)


def records_of(outcome: BatchOutcome) -> list[dict[str, Any]]:
    assert outcome.records is not None
    return [dict(record) for record in outcome.records]


def prompts(count: int) -> list[str]:
    return [f"prompt {index}" for index in range(count)]


def read_results(location: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (location / "results.jsonl").read_text().splitlines()]


def random_latency(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda _prompt: rng.uniform(0, 0.004)


async def test_results_file_holds_every_item_once_in_input_order(tmp_path: Path) -> None:
    sink = JsonlResultSink(f"file://{tmp_path}/run")

    outcome = await run_batch(
        StubClient(latency=random_latency(1)), GenerateBatch("tiny", prompts(45)), sink=sink, part_items=10
    )

    results = read_results(tmp_path / "run")
    assert [result["index"] for result in results] == list(range(45))
    assert results[7]["response"] == "echo prompt 7"
    assert outcome.records is None
    assert outcome.summary["uri"] == f"file://{tmp_path}/run/results.jsonl"
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [
        "_SUCCESS",
        "batch.json",
        "parts",
        "results.jsonl",
    ]
    assert list((tmp_path / "run" / "parts").iterdir()) == []  # merged, then dropped


async def test_a_run_that_failed_fast_resumes_with_only_the_missing_items(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    broken = StubClient(failures={"prompt 23": [OllamaBadRequestError("bad")]}, latency=0.001)
    with pytest.raises(OllamaGenerationError, match="item 23"):
        await run_batch(
            broken, GenerateBatch("tiny", prompts(40)), sink=JsonlResultSink(location), part_items=5
        )

    healthy = StubClient()
    outcome = await run_batch(healthy, GenerateBatch("tiny", prompts(40)), sink=JsonlResultSink(location))

    written_before = outcome.summary["resumed"]
    assert written_before >= 20  # every item released before the failure was saved
    assert sorted(healthy.calls) == sorted(prompts(40)[written_before:])
    assert [result["index"] for result in read_results(tmp_path / "run")] == list(range(40))


async def test_a_crash_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    with pytest.raises(SimulatedCrash):
        await run_batch(
            CrashingClient(crash_after=33, latency=random_latency(2)),
            GenerateBatch("tiny", prompts(60)),
            sink=JsonlResultSink(location),
            part_items=8,
            max_concurrency=4,
        )
    saved = JsonlResultSink(location).open(
        fingerprint=GenerateBatch("tiny", prompts(60)).fingerprint(), items=60, mode="generate", model="tiny"
    )
    assert 0 < saved.resumed <= 33

    second = StubClient()
    outcome = await run_batch(second, GenerateBatch("tiny", prompts(60)), sink=JsonlResultSink(location))

    assert outcome.summary["resumed"] == saved.resumed
    assert len(second.calls) == 60 - saved.resumed
    assert not set(second.calls) & {f"prompt {index}" for index in range(60) if index not in saved.todo}
    results = read_results(tmp_path / "run")
    assert [result["index"] for result in results] == list(range(60))
    assert outcome.summary["succeeded"] == 60


async def test_items_that_failed_in_collect_mode_are_generated_again_by_a_retry(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    flaky = StubClient(
        failures={"prompt 2": [OllamaBadRequestError("bad")], "prompt 6": [OllamaBadRequestError("x")]}
    )
    first = await run_batch(
        flaky, GenerateBatch("tiny", prompts(8)), sink=JsonlResultSink(location), on_error="collect"
    )
    assert first.summary["failed"] == 2
    assert [("error" in result) for result in read_results(tmp_path / "run")].count(True) == 2
    # The operator fails the task here; Airflow retries it with the same output location.

    retry = StubClient()
    second = await run_batch(
        retry, GenerateBatch("tiny", prompts(8)), sink=JsonlResultSink(location), on_error="collect"
    )

    assert sorted(retry.calls) == ["prompt 2", "prompt 6"]
    assert second.summary["failed"] == 0
    assert second.summary["succeeded"] == 8
    assert [result["response"] for result in read_results(tmp_path / "run")] == [
        f"echo prompt {index}" for index in range(8)
    ]


async def test_a_finished_batch_is_not_generated_again(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    await run_batch(StubClient(), GenerateBatch("tiny", prompts(5)), sink=JsonlResultSink(location))

    again = StubClient()
    outcome = await run_batch(again, GenerateBatch("tiny", prompts(5)), sink=JsonlResultSink(location))

    assert again.calls == []
    assert outcome.summary["succeeded"] == 5
    assert outcome.summary["resumed"] == 5


async def test_a_location_holding_a_different_batch_is_refused(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    await run_batch(StubClient(), GenerateBatch("tiny", prompts(5)), sink=JsonlResultSink(location))
    client = StubClient()

    with pytest.raises(BatchOutputConflictError, match=r"different batch.*new location.*or delete this one"):
        await run_batch(client, GenerateBatch("tiny", prompts(6)), sink=JsonlResultSink(location))

    assert client.calls == []


async def test_a_location_with_results_but_no_batch_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.jsonl").write_text('{"index": 0}\n')

    with pytest.raises(BatchOutputConflictError, match=r"no batch\.json"):
        await run_batch(
            StubClient(), GenerateBatch("tiny", prompts(1)), sink=JsonlResultSink(f"file://{tmp_path}/run")
        )


async def test_parts_are_written_every_few_seconds_even_below_part_items(tmp_path: Path) -> None:
    sink = JsonlResultSink(f"file://{tmp_path}/run", keep_parts=True)

    await run_batch(
        StubClient(latency=0.05),
        GenerateBatch("tiny", prompts(24)),
        sink=sink,
        max_concurrency=2,
        part_items=1_000,
        part_seconds=0.1,
    )

    assert len(list((tmp_path / "run" / "parts").iterdir())) > 1


@pytest.mark.parametrize("store", ["file", "s3"])
async def test_a_combine_that_fails_midway_leaves_no_results_file(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base = request.getfixturevalue("results_bucket") if store == "s3" else f"file://{tmp_path}"

    def write_parts_with_a_gap() -> None:
        sink = JsonlResultSink(f"{base}/run", keep_parts=True)
        sink.open(fingerprint="f" * 64, items=3, mode="generate", model="tiny")
        sink.write_part([{"index": 0, "embedding": [1.0]}])
        sink.write_part([{"index": 2, "embedding": [1.0]}])  # item 1 is missing
        sink.combine()

    # Sink methods block on storage: callers run them in a thread, as run_batch does.
    with pytest.raises(BatchOutputCorruptError, match="no record for item 1"):
        await asyncio.to_thread(write_parts_with_a_gap)

    names = await asyncio.to_thread(
        lambda: [path.name for path in ObjectStoragePath(f"{base}/run").iterdir()]
    )
    assert sorted(names) == ["batch.json", "parts"]


async def test_results_go_to_s3_and_resume_there(results_bucket: str) -> None:
    location = f"{results_bucket}/runs/one"
    broken = StubClient(failures={"prompt 17": [OllamaBadRequestError("bad")]})
    with pytest.raises(OllamaGenerationError):
        await run_batch(
            broken,
            GenerateBatch("tiny", prompts(30)),
            sink=JsonlResultSink(location),
            part_items=4,
            max_concurrency=1,
        )

    healthy = StubClient()
    outcome = await run_batch(healthy, GenerateBatch("tiny", prompts(30)), sink=JsonlResultSink(location))

    assert outcome.summary["resumed"] == 17
    assert len(healthy.calls) == 13
    assert outcome.summary["uri"] == f"{location}/results.jsonl"
    lines = (await asyncio.to_thread(ObjectStoragePath(outcome.summary["uri"]).read_text)).splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(30))
    with pytest.raises(BatchOutputConflictError):
        await run_batch(StubClient(), GenerateBatch("other", prompts(30)), sink=JsonlResultSink(location))


async def test_the_connection_can_be_given_apart_from_the_uri(results_bucket: str) -> None:
    conn_id, bucket = results_bucket.removeprefix("s3://").split("@")

    outcome = await run_batch(
        StubClient(),
        GenerateBatch("tiny", prompts(3)),
        sink=JsonlResultSink(f"s3://{bucket}/two", conn_id=conn_id),
    )

    assert outcome.summary["succeeded"] == 3
    results = await asyncio.to_thread(ObjectStoragePath, f"s3://{bucket}/two/results.jsonl", conn_id=conn_id)
    assert await asyncio.to_thread(results.exists)


class ServerFailsAfter:
    """The hook, until ``answers`` generate calls have been answered; then the emulator fails every one."""

    def __init__(self, server: EmulatedOllama, answers: int) -> None:
        self._server = server
        self._left = answers

    async def agenerate(self, model: str, prompt: str, **kwargs: Any) -> Any:
        response = await self._server.hook.agenerate(model, prompt, **kwargs)
        self._left -= 1
        if self._left == 0:
            self._server.emulator.faults.fail_next(10_000, status=500, path="/api/generate")
        return response

    async def achat(self, model: str, messages: Any, **kwargs: Any) -> Any:
        return await self._server.hook.achat(model, messages, **kwargs)

    async def aembed(self, model: str, input: Any, **kwargs: Any) -> Any:
        return await self._server.hook.aembed(model, input, **kwargs)


async def test_a_retried_batch_sends_the_server_only_the_items_it_lacks(
    tmp_path: Path, emulated_ollama: Callable[..., EmulatedOllama]
) -> None:
    server = emulated_ollama(num_parallel=4, request_latency_seconds=0.005)
    batch = GenerateBatch(server.model, prompts(50), options=GenerationOptions(options={"seed": 5}))
    expected = records_of(await run_batch(server.hook, batch, max_concurrency=4))
    location = f"file://{tmp_path}/run"
    server.emulator.stats.reset()

    with pytest.raises(OllamaGenerationError, match="OllamaServerError"):
        await run_batch(
            ServerFailsAfter(server, answers=30),
            batch,
            sink=JsonlResultSink(location),
            max_concurrency=4,
            part_items=7,
            retry=RetryPolicy(retries=1, retry_delay=0.001),
        )
    server.emulator.faults.clear()
    server.emulator.stats.reset()

    outcome = await run_batch(server.hook, batch, sink=JsonlResultSink(location), max_concurrency=4)

    resumed = outcome.summary["resumed"]
    # Everything answered in order before the failure was saved: the 30 calls before the fault and up
    # to 3 more already in flight, less what waited behind the first failed item.
    assert 24 <= resumed <= 33
    assert server.generate_requests() == 50 - resumed
    assert deterministic(read_results(tmp_path / "run")) == deterministic(expected)


def deterministic(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the emulator's answer depends on (same model, prompt and seed), without timings."""
    return [
        (r["index"], r["response"], r["eval_count"], r["prompt_eval_count"], r["done_reason"])
        for r in records
    ]


async def test_a_run_that_stopped_after_its_last_part_only_combines_on_retry(tmp_path: Path) -> None:
    location = f"file://{tmp_path}/run"
    batch = GenerateBatch("tiny", prompts(6))

    def write_every_part_then_stop() -> None:
        sink = JsonlResultSink(location)
        sink.open(fingerprint=batch.fingerprint(), items=6, mode="generate", model="tiny")
        sink.write_part([{"index": index, "embedding": [0.0]} for index in range(6)])

    await asyncio.to_thread(write_every_part_then_stop)
    client = StubClient()

    outcome = await run_batch(client, batch, sink=JsonlResultSink(location))

    assert client.calls == []
    assert outcome.summary["resumed"] == 6
    assert [result["index"] for result in read_results(tmp_path / "run")] == list(range(6))
