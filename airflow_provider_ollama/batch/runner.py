"""Run a batch through one async client: bounded concurrency, input order, retries, resumable output.

A fixed pool of worker coroutines pulls units of work from a lazy iterator, so a 100,000-item batch
never holds more than ``max_concurrency`` requests (and a bounded reorder window of results) at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from airflow_provider_ollama.batch.client import GenerationClient
from airflow_provider_ollama.batch.progress import ProgressLog
from airflow_provider_ollama.batch.requests import Batch, SentUnit
from airflow_provider_ollama.batch.results import (
    BatchSummary,
    ErrorRecord,
    ItemRecord,
    error_record,
    is_error,
)
from airflow_provider_ollama.batch.retry import RetryPolicy, is_transient
from airflow_provider_ollama.batch.sink import JsonlResultSink, ResumeState
from airflow_provider_ollama.batch.validation import OnError, validate_max_concurrency, validate_on_error
from airflow_provider_ollama.exceptions import OllamaGenerationError

#: Requests in flight unless told otherwise: Ollama's usual OLLAMA_NUM_PARALLEL on a GPU.
DEFAULT_MAX_CONCURRENCY = 8

_ERRORS_KEPT = 20
_TICK_SECONDS = 0.5


@dataclass
class BatchOutcome:
    """What :func:`run_batch` returns.

    :param summary: counts and timings (small, JSON-native: fit for XCom).
    :param records: every item's record in input order, or None when results went to a sink.
    :param errors: the first failed items of this run (``on_error="collect"``), for the final message.
    """

    summary: BatchSummary
    records: list[ItemRecord] | None = None
    errors: list[ErrorRecord] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        """Raise ``OllamaGenerationError`` with the count and the first cause if any item failed."""
        failed = self.summary["failed"]
        if not failed:
            return
        first = (
            f" First: item {self.errors[0]['index']}: {self.errors[0]['error']}: {self.errors[0]['message']}."
            if self.errors
            else ""
        )
        where = self.summary.get("uri") or "the task's return value"
        raise OllamaGenerationError(
            f"{failed} of {self.summary['items']} items failed.{first} "
            f"Per-item errors are in {where}; retry the task to generate only the failed items "
            "(with an output location), or fix the cause first."
        )


async def run_batch(
    client: GenerationClient,
    batch: Batch,
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_error: OnError = "fail",
    retry: RetryPolicy | None = None,
    sink: JsonlResultSink | None = None,
    part_items: int = 500,
    part_seconds: float = 60.0,
    progress_seconds: float = 30.0,
    reorder_window: int | None = None,
    log: logging.Logger | None = None,
) -> BatchOutcome:
    """Send every item of ``batch`` through ``client`` and return the results in input order.

    :param max_concurrency: requests in flight at once; match the server's OLLAMA_NUM_PARALLEL.
    :param on_error: ``"fail"`` stops at the first failed item (outstanding requests are cancelled)
        and raises ``OllamaGenerationError`` naming it; ``"collect"`` records the failure as an
        :class:`ErrorRecord` and goes on (call :meth:`BatchOutcome.raise_for_failures` at the end).
    :param retry: backoff for transient errors (503, 5xx, dropped connections); 4xx is never retried.
    :param sink: write results there (resuming from an earlier attempt) instead of returning them.
    :param part_items: with a sink, write a part file every this many items...
    :param part_seconds: ...or every this many seconds, whichever comes first.
    :param progress_seconds: longest gap between progress lines in the log.
    :param reorder_window: with a sink, how many units may finish ahead of the oldest unfinished one
        (bounds memory when one item is slow); default ``8 * max_concurrency``.

    .. code-block:: python

        items = validate_prompts(prompt, prompts)  # before any request
        batch = GenerateBatch("llama3.2", items, options=GenerationOptions(format=schema))
        sink = JsonlResultSink("s3://aws_default@bucket/runs/{{ run_id }}") if output_uri else None
        outcome = asyncio.run(run_batch(OllamaHook("ollama_default"), batch, on_error="collect", sink=sink))
        outcome.raise_for_failures()  # after pushing outcome.summary (or outcome.records) to XCom
    """
    run = _BatchRun(
        client,
        batch,
        max_concurrency=validate_max_concurrency(max_concurrency),
        on_error=validate_on_error(on_error),
        retry=retry or RetryPolicy(),
        sink=sink,
        part_items=part_items,
        part_seconds=part_seconds,
        progress_seconds=progress_seconds,
        reorder_window=reorder_window,
        log=log or logging.getLogger(__name__),
    )
    return await run.execute()


class _UnitFailed(Exception):
    """A unit's last attempt failed; carries the cause and how many tries were made."""

    def __init__(self, cause: Exception, attempts: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.attempts = attempts


class _ItemFailed(Exception):
    """Fail-fast: the first item that failed for good (ends the batch)."""

    def __init__(self, index: int, cause: Exception, attempts: int) -> None:
        super().__init__(index)
        self.index = index
        self.cause = cause
        self.attempts = attempts


class _BatchRun:
    """State of one run of :func:`run_batch`; workers share it on one event loop (no locks needed)."""

    def __init__(
        self,
        client: GenerationClient,
        batch: Batch,
        *,
        max_concurrency: int,
        on_error: OnError,
        retry: RetryPolicy,
        sink: JsonlResultSink | None,
        part_items: int,
        part_seconds: float,
        progress_seconds: float,
        reorder_window: int | None,
        log: logging.Logger,
    ) -> None:
        self._client = client
        self._batch = batch
        self._max_concurrency = max_concurrency
        self._on_error = on_error
        self._retry = retry
        self._sink = sink
        self._part_items = max(1, part_items)
        self._part_seconds = part_seconds
        self._progress_seconds = progress_seconds
        # Without a sink every record is kept anyway, so finishing ahead costs nothing extra.
        window = reorder_window or 8 * max_concurrency
        self._window = asyncio.Semaphore(window if sink is not None else sys.maxsize)
        self._log = log
        self._label = f"{batch.mode} batch on {batch.model}"

        self._units: Iterator[tuple[int, ...]] = iter(())
        self._units_taken = 0
        self._finished_units: dict[int, SentUnit] = {}
        self._next_unit_to_release = 0
        self._records: list[ItemRecord] | None = None if sink is not None else []
        self._part_buffer: list[ItemRecord] = []
        self._part_started = time.monotonic()
        self._parts: asyncio.Queue[list[ItemRecord] | None] = asyncio.Queue(maxsize=4)
        self._current_write: asyncio.Future[None] | None = None
        self._progress: ProgressLog | None = None

        self._in_flight = 0
        self._requests = 0
        self._retries = 0
        self._warned_retry = False
        self._prompt_tokens = 0
        self._eval_tokens = 0
        self._succeeded = 0
        self._failed = 0
        self._errors: list[ErrorRecord] = []

    # --- the run ---------------------------------------------------------------------------------

    async def execute(self) -> BatchOutcome:
        started = time.perf_counter()
        state = await self._open()
        if state.completed is not None:
            return self._already_complete(state, started)
        self._units = self._batch.units(state.todo)
        self._progress = ProgressLog(
            self._log,
            label=self._label,
            total=len(self._batch),
            already_done=state.resumed,
            every_seconds=self._progress_seconds,
        )
        if state.resumed:
            self._log.info(
                "%s: resuming, %d of %d items are already in %s; generating the other %d",
                self._label,
                state.resumed,
                len(self._batch),
                self._sink.location if self._sink else "",
                len(state.todo),
            )

        workers = [asyncio.create_task(self._work()) for _ in range(self._max_concurrency)]
        helpers = [asyncio.create_task(self._tick())]
        if self._sink is not None:
            helpers.append(asyncio.create_task(self._write_parts(self._sink)))
        try:
            await self._supervise(workers, helpers)
        except _ItemFailed as failure:
            await self._stop(workers, helpers, save_finished=True)
            raise OllamaGenerationError(
                f"{self._label}: item {failure.index} failed after {failure.attempts} attempt(s): "
                f"{type(failure.cause).__name__}: {failure.cause}"
            ) from failure.cause
        except BaseException:
            await self._stop(workers, helpers, save_finished=False)
            raise
        await self._stop(workers, helpers, save_finished=True)
        return await self._finish(state, started)

    async def _open(self) -> ResumeState:
        sink, batch = self._sink, self._batch
        if sink is None:
            return ResumeState(todo=range(len(batch)), resumed=0)
        # Hashing every item and reading the store both block: neither belongs on the event loop.
        return await asyncio.to_thread(
            lambda: sink.open(
                fingerprint=batch.fingerprint(), items=len(batch), mode=batch.mode, model=batch.model
            )
        )

    async def _supervise(self, workers: list[asyncio.Task[None]], helpers: list[asyncio.Task[None]]) -> None:
        """Wait until every worker is done; re-raise the first failure of a worker or helper."""
        pending: set[asyncio.Task[None]] = set(workers) | set(helpers)
        while any(not worker.done() for worker in workers):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()

    async def _stop(
        self, workers: list[asyncio.Task[None]], helpers: list[asyncio.Task[None]], *, save_finished: bool
    ) -> None:
        """Cancel what still runs; with ``save_finished``, write the released records before returning."""
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        ticker, *writer = helpers
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        if not writer:
            return
        if save_finished and not writer[0].done():
            await self._parts.put(self._take_part())
            await self._parts.put(None)
            await writer[0]  # a storage error surfaces here
        else:
            writer[0].cancel()
            await asyncio.gather(*writer, return_exceptions=True)
            if self._current_write is not None:
                await asyncio.wait([self._current_write])

    async def _finish(self, state: ResumeState, started: float) -> BatchOutcome:
        summary: BatchSummary = {
            "items": len(self._batch),
            "succeeded": self._succeeded,
            "failed": self._failed,
            "resumed": state.resumed,
            "requests": self._requests,
            "retries": self._retries,
            "prompt_eval_count": self._prompt_tokens,
            "eval_count": self._eval_tokens,
            "wall_seconds": 0.0,
            "tokens_per_second": 0.0,
        }
        if self._sink is not None:
            counts = await asyncio.to_thread(self._sink.combine)
            summary["succeeded"], summary["failed"] = counts.succeeded, counts.failed
            summary["uri"] = self._sink.results_uri
        wall = time.perf_counter() - started
        summary["wall_seconds"] = round(wall, 3)
        summary["tokens_per_second"] = round(self._eval_tokens / wall, 2) if wall > 0 else 0.0
        if self._sink is not None:
            await asyncio.to_thread(self._sink.mark_complete, summary)
        self._log_summary(summary)
        return BatchOutcome(summary=summary, records=self._records, errors=self._errors)

    def _already_complete(self, state: ResumeState, started: float) -> BatchOutcome:
        assert state.completed is not None
        assert self._sink is not None
        summary: BatchSummary = {
            **state.completed,
            "resumed": len(self._batch),
            "requests": 0,
            "retries": 0,
            "prompt_eval_count": 0,
            "eval_count": 0,
            "wall_seconds": round(time.perf_counter() - started, 3),
            "tokens_per_second": 0.0,
            "uri": self._sink.results_uri,
        }
        self._log.info(
            "%s: already complete in %s (%d succeeded, %d failed); nothing to generate",
            self._label,
            self._sink.location,
            summary["succeeded"],
            summary["failed"],
        )
        return BatchOutcome(summary=summary)

    def _log_summary(self, summary: BatchSummary) -> None:
        self._log.info(
            "%s done: %d items, %d succeeded, %d failed (%d resumed) in %.2f s; %d requests, %d retries, "
            "%d prompt + %d eval tokens, %.1f tokens/s%s",
            self._label,
            summary["items"],
            summary["succeeded"],
            summary["failed"],
            summary["resumed"],
            summary["wall_seconds"],
            summary["requests"],
            summary["retries"],
            summary["prompt_eval_count"],
            summary["eval_count"],
            summary["tokens_per_second"],
            f"; results at {summary['uri']}" if "uri" in summary else "",
        )

    # --- workers ---------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            await self._window.acquire()
            unit = next(self._units, None)
            if unit is None:
                self._window.release()
                return
            position = self._units_taken
            self._units_taken += 1
            self._in_flight += 1
            try:
                sent = await self._execute(unit)
            finally:
                self._in_flight -= 1
            await self._release(position, sent)

    async def _execute(self, unit: tuple[int, ...]) -> SentUnit:
        """The unit's records, retrying transient errors; failures become records or end the batch."""
        try:
            return await self._send_with_retries(unit)
        except _UnitFailed as failure:
            if len(unit) > 1 and not is_transient(failure.cause):
                # One bad input fails a whole multi-item request: send the items one by one so
                # only the bad one is marked failed.
                parts = [await self._execute((index,)) for index in unit]
                return SentUnit(
                    [record for part in parts for record in part.records],
                    sum(part.prompt_eval_count for part in parts),
                    sum(part.eval_count for part in parts),
                )
            if self._on_error == "fail":
                raise _ItemFailed(unit[0], failure.cause, failure.attempts) from failure.cause
            errors = [error_record(index, failure.cause, failure.attempts) for index in unit]
            return SentUnit(list(errors), 0, 0)

    async def _send_with_retries(self, unit: Sequence[int]) -> SentUnit:
        attempt = 0
        while True:
            attempt += 1
            self._requests += 1
            try:
                return await self._batch.send(self._client, unit)
            except Exception as error:
                if attempt >= self._retry.attempts or not is_transient(error):
                    raise _UnitFailed(error, attempt) from error
                delay = self._retry.delay(attempt)
                self._retries += 1
                self._log_retry(unit, error, attempt, delay)
                await asyncio.sleep(delay)

    def _log_retry(self, unit: Sequence[int], error: Exception, attempt: int, delay: float) -> None:
        # The first retry of a run is worth a warning; a 503 storm afterwards only fills the log.
        level = logging.DEBUG if self._warned_retry else logging.WARNING
        self._warned_retry = True
        self._log.log(
            level,
            "%s: item %d attempt %d failed (%s: %s); retrying in %.2f s (further retries are logged at debug level)",
            self._label,
            unit[0],
            attempt,
            type(error).__name__,
            error,
            delay,
        )

    async def _release(self, position: int, sent: SentUnit) -> None:
        """Hand finished units on in input order; later units wait here for earlier ones."""
        self._finished_units[position] = sent
        while self._next_unit_to_release in self._finished_units:
            ready = self._finished_units.pop(self._next_unit_to_release)
            self._next_unit_to_release += 1
            self._window.release()
            self._accept(ready)
        if len(self._part_buffer) >= self._part_items:
            await self._parts.put(self._take_part())

    def _accept(self, sent: SentUnit) -> None:
        self._prompt_tokens += sent.prompt_eval_count
        self._eval_tokens += sent.eval_count
        for record in sent.records:
            failed = is_error(record)
            if failed:
                self._failed += 1
                if len(self._errors) < _ERRORS_KEPT:
                    self._errors.append(record)  # type: ignore[arg-type]
            else:
                self._succeeded += 1
            if self._records is not None:
                self._records.append(record)
            else:
                self._part_buffer.append(record)
            assert self._progress is not None
            self._progress.item_finished(failed=failed, eval_tokens=record.get("eval_count", 0))  # type: ignore[arg-type]

    # --- helpers ---------------------------------------------------------------------------------

    def _take_part(self) -> list[ItemRecord]:
        part, self._part_buffer = self._part_buffer, []
        self._part_started = time.monotonic()
        return part

    async def _write_parts(self, sink: JsonlResultSink) -> None:
        """The only writer, so parts land in the order they were taken."""
        while (part := await self._parts.get()) is not None:
            self._current_write = asyncio.ensure_future(asyncio.to_thread(sink.write_part, part))
            # Shielded: a cancelled run must not return while a thread still writes to the store.
            await asyncio.shield(self._current_write)

    async def _tick(self) -> None:
        """Progress lines and time-based part writes while requests are slow to finish."""
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            assert self._progress is not None
            self._progress.tick(in_flight=self._in_flight)
            stale = time.monotonic() - self._part_started >= self._part_seconds
            if self._sink is not None and self._part_buffer and stale:
                await self._parts.put(self._take_part())
