"""The emulator's performance model: loaded models, parallel slots, the request queue and keep-alive.

It plays the part of Ollama's scheduler and runners so that benchmarks and timeouts behave as against
a real server: ``OLLAMA_NUM_PARALLEL`` requests run at once per loaded model, at most
``OLLAMA_MAX_QUEUE`` wait (more get 503), a model takes ``load_seconds`` to load, idle models unload
when their keep-alive runs out or to make room, and tokens come at the configured rate.

Simplifications, documented because tests may meet them: loaded models are keyed by name rather than
by model file; a request waiting for a slot counts as pending (Ollama's docs describe the queue this
way); expiry is checked lazily on every call rather than by a timer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_ollama.testing.emulator.gojson import format_time_ns
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.show import details

#: Ollama's error when the queue is full (two spaces after the full stop, as in its source).
QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
#: Go's largest time.Duration: what a negative keep_alive becomes ("keep loaded forever").
FOREVER_NS = 2**63 - 1
_NS = 1_000_000_000
# Python's datetime stops at year 9999; Go's does not, but keep-forever lands in 2318 anyway.
_LATEST_FORMATTABLE_NS = 253402300799 * _NS


class QueueFullError(Exception):
    """More requests are pending than ``OLLAMA_MAX_QUEUE`` allows (HTTP 503)."""

    def __init__(self) -> None:
        super().__init__(QUEUE_FULL_MESSAGE)


@dataclass
class SchedulerStats:
    """What the performance model did; peaks let tests prove how many requests ran at once."""

    admitted: int = 0
    rejected: int = 0
    active: int = 0
    peak_active: int = 0
    pending: int = 0
    peak_pending: int = 0
    loads: int = 0
    unloads: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class _Runner:
    """A loaded (or loading) model with its parallel slots."""

    def __init__(self, model: LocalModel, context_length: int, parallel: int) -> None:
        self.model = model
        self.context_length = context_length
        self.slots = asyncio.Semaphore(parallel)
        self.ready = asyncio.Event()
        self.users = 0  # requests holding or waiting for this runner
        self.session_seconds = 0.0  # the latest request's keep_alive
        self.expires_monotonic = math.inf
        self.unload_requested = False
        self.load_task: asyncio.Task[None] | None = None


class Pacer:
    """Spends the time a real model would: fixed latency, time to first token, then tokens per second."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._generation_start = clock()
        self._tokens = 0

    async def prompt(self) -> int:
        """Evaluate the prompt; return the time it took in ns (never 0: Ollama omits zero metrics)."""
        start = self._clock()
        delay = self._settings.request_latency_seconds + self._settings.first_token_seconds
        if delay > 0:
            await asyncio.sleep(delay)
        self._generation_start = self._clock()
        return max(1, int((self._generation_start - start) * _NS))

    async def tokens(self, count: int) -> None:
        """Wait until ``count`` more tokens are due; sleeps only when ahead of the token rate."""
        self._tokens += count
        rate = self._settings.tokens_per_second
        if rate <= 0 or count <= 0:
            return
        delay = self._generation_start + self._tokens / rate - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

    def eval_duration_ns(self) -> int:
        return max(1, int((self._clock() - self._generation_start) * _NS))


class Lease:
    """A request's hold on a loaded model; take a :meth:`slot` to run inference on it."""

    def __init__(self, scheduler: Scheduler, runner: _Runner, load_duration_ns: int) -> None:
        self._scheduler = scheduler
        self._runner = runner
        self.load_duration_ns = load_duration_ns
        self.pending = True

    @property
    def context_length(self) -> int:
        return self._runner.context_length

    def leave_queue(self) -> None:
        if self.pending:
            self.pending = False
            self._scheduler.stats.pending -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Pacer]:
        """Wait for one of the model's parallel slots; the slot is freed on exit or cancellation."""
        stats = self._scheduler.stats
        async with self._runner.slots:
            self.leave_queue()
            stats.active += 1
            stats.peak_active = max(stats.peak_active, stats.active)
            try:
                yield Pacer(self._scheduler.settings, self._scheduler.clock)
            finally:
                stats.active -= 1


class Scheduler:
    """Ollama's scheduler for the emulator; one per server, used from the server's event loop."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._wall_clock_ns = wall_clock_ns
        self.stats = SchedulerStats()
        self._runners: dict[tuple[str, str, str, str], _Runner] = {}
        self._changed: asyncio.Event | None = None

    @asynccontextmanager
    async def use(
        self, model: LocalModel, *, keep_alive_seconds: float | None = None, num_ctx: int | None = None
    ) -> AsyncIterator[Lease]:
        """Admit a request for ``model``: queue it, load the model if needed, hold it until exit.

        ``keep_alive_seconds`` (None: the server default; negative: forever; 0: unload when done)
        sets how long the model stays loaded after its last request. Raises :class:`QueueFullError`.
        """
        self._purge_expired()
        limit = self.settings.max_queue
        if limit > 0 and self.stats.pending >= limit:
            self.stats.rejected += 1
            raise QueueFullError()
        self.stats.admitted += 1
        self.stats.pending += 1
        self.stats.peak_pending = max(self.stats.peak_pending, self.stats.pending)
        started = self.clock()
        session = self.settings.keep_alive_seconds if keep_alive_seconds is None else keep_alive_seconds
        lease: Lease | None = None
        runner: _Runner | None = None
        try:
            runner = await self._acquire_runner(model, self._context_length(model, num_ctx), session)
            lease = Lease(self, runner, max(1, int((self.clock() - started) * _NS)))
            yield lease
        finally:
            if lease is not None:
                lease.leave_queue()
            else:
                self.stats.pending -= 1
            if runner is not None:
                self._release(runner)

    def expire(self, model: LocalModel) -> None:
        """Unload ``model`` now, or as soon as its running requests finish (keep_alive 0, delete)."""
        runner = self._runners.get(model.name.key)
        if runner is None:
            return
        runner.unload_requested = True
        runner.session_seconds = 0.0
        if runner.users == 0:
            self._remove(runner)

    async def unload(self, model: LocalModel) -> None:
        """Async form of :meth:`expire` for callers on the event loop."""
        self.expire(model)

    def running(self) -> list[dict[str, Any]]:
        """``/api/ps`` entries: loaded models, the one expiring last first."""
        self._purge_expired()
        now_monotonic = self.clock()
        now_ns = self._wall_clock_ns()
        entries: list[tuple[int, dict[str, Any]]] = []
        for runner in self._runners.values():
            model = runner.model
            expires_ns = now_ns + self._remaining_ns(runner, now_monotonic)
            short = model.name.display_shortest()
            entries.append(
                (
                    expires_ns // _NS,
                    {
                        "name": short,
                        "model": short,
                        "size": model.size,
                        "digest": model.digest_hex,
                        "details": details(model.config),
                        "expires_at": format_time_ns(min(expires_ns, _LATEST_FORMATTABLE_NS)),
                        "size_vram": model.size if self.settings.gpu else 0,
                        "context_length": runner.context_length,
                    },
                )
            )
        entries.sort(key=lambda entry: entry[0], reverse=True)
        return [entry for _, entry in entries]

    def is_loaded(self, model: LocalModel) -> bool:
        self._purge_expired()
        runner = self._runners.get(model.name.key)
        return runner is not None and runner.ready.is_set()

    def _context_length(self, model: LocalModel, num_ctx: int | None) -> int:
        wanted = num_ctx if num_ctx and num_ctx > 0 else self.settings.context_length
        return max(1, min(wanted, model.context_length))

    def _remaining_ns(self, runner: _Runner, now: float) -> int:
        if runner.users > 0 or not runner.ready.is_set():
            session = runner.session_seconds
            return FOREVER_NS if session < 0 else int(session * _NS)
        if math.isinf(runner.expires_monotonic):
            return FOREVER_NS
        return max(0, int((runner.expires_monotonic - now) * _NS))

    async def _acquire_runner(self, model: LocalModel, context_length: int, session: float) -> _Runner:
        """The loaded runner for ``model``, loading (and evicting) as needed; counts the caller as a user."""
        key = model.name.key
        while True:
            self._purge_expired()
            runner = self._runners.get(key)
            if runner is not None and (
                runner.model.digest_hex != model.digest_hex or runner.context_length != context_length
            ):
                # Ollama reloads a model whose file or num_ctx changed, once its requests are done.
                if runner.users == 0 and runner.ready.is_set():
                    self._remove(runner)
                    runner = None
                else:
                    await self._wait_for_change()
                    continue
            if runner is None:
                if not self._has_room():
                    victim = self._idle_runner_to_evict()
                    if victim is None:
                        await self._wait_for_change()
                        continue
                    self._remove(victim)
                runner = self._start_loading(model, context_length)
            runner.users += 1
            runner.session_seconds = session
            runner.unload_requested = False
            try:
                await runner.ready.wait()
            except BaseException:
                self._release(runner)
                raise
            return runner

    def _has_room(self) -> bool:
        limit = self.settings.max_loaded_models
        return limit <= 0 or len(self._runners) < limit

    def _idle_runner_to_evict(self) -> _Runner | None:
        idle = [runner for runner in self._runners.values() if runner.users == 0 and runner.ready.is_set()]
        return min(idle, key=lambda runner: runner.expires_monotonic, default=None)

    def _start_loading(self, model: LocalModel, context_length: int) -> _Runner:
        runner = _Runner(model, context_length, max(1, self.settings.num_parallel))
        self._runners[model.name.key] = runner
        self.stats.loads += 1
        if self.settings.load_seconds > 0:
            # A task of its own, so a caller giving up does not abort a load others wait for.
            runner.load_task = asyncio.get_running_loop().create_task(self._load(runner))
        else:
            runner.ready.set()
        return runner

    async def _load(self, runner: _Runner) -> None:
        await asyncio.sleep(self.settings.load_seconds)
        runner.ready.set()

    def _release(self, runner: _Runner) -> None:
        runner.users -= 1
        if runner.users > 0:
            return
        session = runner.session_seconds
        if runner.unload_requested or session == 0:
            self._remove(runner)
        else:
            runner.expires_monotonic = math.inf if session < 0 else self.clock() + session
        self._notify_change()

    def _remove(self, runner: _Runner) -> None:
        key = runner.model.name.key
        if self._runners.get(key) is runner:
            del self._runners[key]
            self.stats.unloads += 1
        if runner.load_task is not None and not runner.load_task.done():
            runner.load_task.cancel()
        self._notify_change()

    def _purge_expired(self) -> None:
        now = self.clock()
        for runner in list(self._runners.values()):
            if runner.users == 0 and runner.ready.is_set() and runner.expires_monotonic <= now:
                self._remove(runner)

    async def _wait_for_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _notify_change(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
