"""The emulator's performance model, following Ollama's scheduler (server/sched.go) rule for rule.

* A request whose model is loaded with the same runner options takes it directly; it then waits,
  without limit, for one of the runner's parallel slots (the llama-server semaphore).
* Any other request, including one for a model that is still loading, waits in the pending queue for
  the one loader, which loads models one at a time and registers a runner only once it answers; only
  requests in that queue count against ``OLLAMA_MAX_QUEUE`` (more get 503).
* ``OLLAMA_NUM_PARALLEL`` slots per runner, except one slot for embedding models and the families
  llama.cpp cannot run in parallel; ``OLLAMA_MAX_LOADED_MODELS`` (0: three per GPU, at least three)
  runners at once, evicting the one with the shortest keep-alive when full.
* Runners are keyed by model file, so two names of one model share a runner; a request with other
  runner options (num_ctx, num_batch, num_gpu, ...) or another ``shift`` reloads it.
* A request's ``keep_alive`` replaces the runner's only when given; the runner starts to expire when
  its last request ends, and ``/api/ps`` reports the expiry computed then.
* Loading asks the model's engine (:mod:`.engine`) for a runner: the synthetic engine's is instant
  (``OLLAMA_EMULATOR_LOAD_SECONDS`` stands in for the load), a real model's starts a runner process.
  A runner that unloads is closed, and :meth:`Scheduler.close` closes them all when the emulator
  stops, so no runner process outlives it.

Expiry is checked on every call and, for an idle runner, by a timer at its expiry time, so a real
model's runner process ends when its keep-alive does, as Ollama's ``expireTimer`` ends it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_ollama.testing.emulator.engine import (
    EngineError,
    EngineRegistry,
    InferenceEngine,
    LoadOptions,
    ModelRunner,
)
from airflow_provider_ollama.testing.emulator.gojson import format_time_ns
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.show import details

#: Ollama's ErrMaxQueue (two spaces after the full stop, as in its source).
QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
#: Go's largest time.Duration: what a negative keep_alive becomes ("keep loaded forever").
FOREVER_NS = 2**63 - 1
#: ``defaultModelsPerGPU``: the automatic OLLAMA_MAX_LOADED_MODELS per GPU (one "GPU" on a CPU host).
MODELS_PER_GPU = 3
#: The default ``num_ctx`` below 23 GiB of VRAM (server/routes.go Serve): what the emulator's host has.
DEFAULT_NUM_CTX = 4096
#: ``llm.DefaultEmbeddingNumBatch``.
DEFAULT_EMBEDDING_NUM_BATCH = 2048
#: Families llama.cpp cannot serve with more than one slot (sched.go ``load``).
SINGLE_SLOT_FAMILIES = frozenset(
    {
        "mllama",
        "qwen3vl",
        "qwen3vlmoe",
        "qwen35",
        "qwen35moe",
        "qwen3next",
        "lfm2",
        "lfm2moe",
        "nemotron_h",
        "nemotron_h_moe",
        "nemotron_h_omni",
    }
)
#: ``api.Runner``: options that are fixed when a model loads; another value reloads it.
RUNNER_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
)
_NS = 1_000_000_000
# Python's datetime stops at year 9999; Go's does not, but keep-forever lands in 2318 anyway.
_LATEST_FORMATTABLE_NS = 253402300799 * _NS


class QueueFullError(Exception):
    """More requests wait for a model load than ``OLLAMA_MAX_QUEUE`` allows (HTTP 503)."""

    def __init__(self) -> None:
        super().__init__(QUEUE_FULL_MESSAGE)


@dataclass
class SchedulerStats:
    """What the performance model did; peaks let tests prove how many requests ran at once.

    ``pending`` counts requests in the load queue (what OLLAMA_MAX_QUEUE limits); ``waiting`` those
    holding a runner but waiting for one of its slots.
    """

    admitted: int = 0
    rejected: int = 0
    active: int = 0
    peak_active: int = 0
    pending: int = 0
    peak_pending: int = 0
    waiting: int = 0
    peak_waiting: int = 0
    loads: int = 0
    unloads: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


def runner_key(model: LocalModel) -> str:
    """``schedulerModelKey``: the model file (its layer digest), else the manifest digest."""
    layer = model.manifest.layer("model")
    return layer.digest if layer is not None else f"digest:{model.digest_hex}"


def parallel_slots(model: LocalModel, num_parallel: int) -> int:
    """Slots a runner of ``model`` gets: one for embedding models and single-slot families."""
    if not model.supports("completion"):
        return 1
    if str(model.config.get("model_family") or "") in SINGLE_SLOT_FAMILIES:
        return 1
    return max(1, num_parallel)


def _layers(model: LocalModel, kind: str) -> tuple[str, ...]:
    return tuple(layer.digest for layer in model.manifest.layers if layer.kind == kind)


@dataclass(frozen=True)
class RunnerRequest:
    """What a request asks of the scheduler: the model, its runner options and its keep-alive."""

    model: LocalModel
    runner_options: tuple[tuple[str, Any], ...]
    context_length: int
    #: The request's keep_alive in ns (None: not given); negative durations are already FOREVER_NS.
    session_ns: int | None
    shift: bool
    num_ctx_auto: bool
    num_batch_auto: bool

    @property
    def key(self) -> str:
        return runner_key(self.model)


def runner_request(
    settings: EmulatorSettings,
    model: LocalModel,
    options: Mapping[str, Any],
    *,
    keep_alive_seconds: float | None,
    shift: bool | None = None,
) -> RunnerRequest:
    """The runner options a request loads with (``modelOptions`` + ``getRunner``'s adjustments)."""
    num_ctx_auto = "num_ctx" not in options and settings.context_length <= 0
    num_ctx = int(options.get("num_ctx") or 0) or settings.context_length or DEFAULT_NUM_CTX
    num_ctx = max(num_ctx, 4)
    if model.supports("vision"):
        num_ctx = max(num_ctx, 2048)
    train = model.context_length
    effective_ctx = min(num_ctx, train) if train > 0 else num_ctx
    num_batch_auto = "num_batch" not in options
    parallel = parallel_slots(model, settings.num_parallel)
    if num_batch_auto:
        num_batch = _automatic_num_batch(model, effective_ctx, parallel)
    else:
        num_batch = int(options["num_batch"])
    has_draft = bool(_layers(model, "draft"))
    values: dict[str, Any] = {
        "num_ctx": effective_ctx,
        "num_batch": num_batch,
        "num_gpu": int(options.get("num_gpu", -1)),
        "main_gpu": options.get("main_gpu"),
        "use_mmap": options.get("use_mmap"),
        "num_thread": int(options.get("num_thread", 0)),
        "draft_num_predict": int(options.get("draft_num_predict", 4 if has_draft else 0)),
    }
    if values["num_gpu"] < 0:
        values["num_gpu"] = -1
    session_ns: int | None = None
    if keep_alive_seconds is not None:
        session_ns = FOREVER_NS if keep_alive_seconds < 0 else int(keep_alive_seconds * _NS)
    family = str(model.config.get("model_family") or "")
    families = model.config.get("model_families") or []
    default_shift = family != "deepseek2" and "deepseek2" not in families
    return RunnerRequest(
        model=model,
        runner_options=tuple(values.items()),
        context_length=effective_ctx,
        session_ns=session_ns,
        shift=default_shift if shift is None else shift,
        num_ctx_auto=num_ctx_auto,
        num_batch_auto=num_batch_auto,
    )


def _automatic_num_batch(model: LocalModel, effective_ctx: int, parallel: int) -> int:
    """``WithDefaultEmbeddingNumBatch`` / ``automaticGenerationBatch`` on a host without a GPU."""
    if not model.supports("completion"):
        return min(DEFAULT_EMBEDDING_NUM_BATCH, effective_ctx) if effective_ctx > 0 else 2048
    server_ctx = effective_ctx * max(parallel, 1)
    if server_ctx > 32768:
        return 2048
    if server_ctx > 4096:
        return 1024
    return 512


class _Runner:
    """A loaded (or loading) model with its parallel slots (Ollama's ``runnerRef``)."""

    #: What answers for the model once loaded (the engine's runner; None while loading).
    served: ModelRunner | None = None

    def __init__(self, request: RunnerRequest, parallel: int, session_ns: int) -> None:
        self.key = request.key
        self.model = request.model
        self.request = request
        self.context_length = request.context_length
        self.parallel = parallel
        self.slots = asyncio.Semaphore(parallel)
        self.loaded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.ref_count = 0
        self.session_ns = session_ns
        #: Wall-clock ns when the runner expires; set when it goes idle (Go's zero time until then).
        self.expires_at_ns: int | None = None
        self.expires_monotonic = math.inf
        self.unloaded = False

    @property
    def ready(self) -> bool:
        return self.loaded.done() and not self.loaded.cancelled() and self.loaded.result()

    def needs_reload(self, request: RunnerRequest) -> bool:
        """``runnerRef.needsReload``: other adapters, projectors, runner options or context shift, or a
        runner that no longer answers (Ollama pings it)."""
        if self.unloaded or (self.served is not None and not self.served.alive):
            return True
        if _layers(self.model, "adapter") != _layers(request.model, "adapter"):
            return True
        if _layers(self.model, "projector") != _layers(request.model, "projector"):
            return True
        if self.request.shift != request.shift:
            return True
        existing = dict(self.request.runner_options)
        wanted = dict(request.runner_options)
        if self.request.num_ctx_auto and request.num_ctx_auto:
            wanted["num_ctx"] = existing["num_ctx"]
        if self.request.num_batch_auto and request.num_batch_auto:
            wanted["num_batch"] = existing["num_batch"]
        return existing != wanted


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

    @property
    def context_length(self) -> int:
        return self._runner.context_length

    @property
    def parallel(self) -> int:
        return self._runner.parallel

    @property
    def runner(self) -> ModelRunner:
        """The loaded model's runner, which produces the answers (see :mod:`.engine`)."""
        assert self._runner.served is not None, "a lease is only given for a loaded runner"
        return self._runner.served

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Pacer]:
        """Wait (without limit) for one of the runner's slots; freed on exit or cancellation."""
        stats = self._scheduler.stats
        stats.waiting += 1
        stats.peak_waiting = max(stats.peak_waiting, stats.waiting)
        try:
            await self._runner.slots.acquire()
        finally:
            stats.waiting -= 1
        stats.active += 1
        stats.peak_active = max(stats.peak_active, stats.active)
        try:
            yield Pacer(self._scheduler.settings, self._scheduler.clock)
        finally:
            stats.active -= 1
            self._runner.slots.release()


@dataclass(eq=False)
class _Pending:
    """A request in the load queue (Ollama's ``LlmRequest`` on ``pendingReqCh``)."""

    request: RunnerRequest
    granted: asyncio.Future[_Runner] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Scheduler:
    """Ollama's scheduler for the emulator; one per server, used from the server's event loop."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        engines: EngineRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        #: Which engine loads each model (the synthetic one unless a claim says otherwise).
        self.engines = engines or EngineRegistry()
        self.clock = clock
        self._wall_clock_ns = wall_clock_ns
        self.stats = SchedulerStats()
        self._runners: dict[str, _Runner] = {}
        self._queue: collections.deque[_Pending] = collections.deque()
        self._unloaded: asyncio.Event | None = None
        self._loader: asyncio.Task[None] | None = None
        self._loader_busy = False
        #: Runners being closed, and abandoned loads (a real model's process takes a moment to end).
        self._closing: set[asyncio.Future[Any]] = set()

    # ----------------------------------------------------------------------------------- requests

    @asynccontextmanager
    async def use(
        self,
        model: LocalModel,
        *,
        keep_alive_seconds: float | None = None,
        options: Mapping[str, Any] | None = None,
        num_ctx: int | None = None,
        shift: bool | None = None,
    ) -> AsyncIterator[Lease]:
        """Admit a request for ``model``: take its runner, or queue for a load; hold it until exit.

        ``keep_alive_seconds`` (None: keep the runner's; negative: forever; 0: unload when done).
        Raises :class:`QueueFullError` when the load queue is full.
        """
        merged = dict(options or {})
        if num_ctx:
            merged["num_ctx"] = num_ctx
        request = runner_request(
            self.settings, model, merged, keep_alive_seconds=keep_alive_seconds, shift=shift
        )
        started = self.clock()
        runner = await self._get_runner(request)
        self.stats.admitted += 1
        lease = Lease(self, runner, max(1, int((self.clock() - started) * _NS)))
        try:
            yield lease
        finally:
            self._finished(runner)

    async def _get_runner(self, request: RunnerRequest) -> _Runner:
        """``getRunner``: a usable runner now, or a place in the load queue (503 when it is full)."""
        while True:
            self._purge_expired()
            runner = self._runners.get(request.key)
            if runner is not None:
                if not await self._settled(runner):
                    continue
                if not runner.needs_reload(request):
                    self._use_loaded(runner, request)
                    return runner
            pending = self._enqueue(request)
            try:
                granted = await asyncio.shield(pending.granted)
            except asyncio.CancelledError:
                self._abandon(pending)
                raise
            if granted is not None:
                return granted

    async def _settled(self, runner: _Runner) -> bool:
        """Wait for a loading runner (``needsReload`` blocks on it); False if its load was abandoned."""
        if not runner.loaded.done():
            await asyncio.shield(runner.loaded)
        return runner.ready and not runner.unloaded

    def _use_loaded(self, runner: _Runner, request: RunnerRequest) -> None:
        """``useLoadedRunner``: count the request and stop the expiry; a given keep_alive replaces."""
        runner.ref_count += 1
        runner.expires_monotonic = math.inf
        if request.session_ns is not None:
            runner.session_ns = request.session_ns

    def _enqueue(self, request: RunnerRequest) -> _Pending:
        """Send the request to the loader: straight to it when it waits (an unbuffered hand-over, as
        on Go's channel), else into the queue, which holds ``OLLAMA_MAX_QUEUE`` (503 beyond)."""
        pending = _Pending(request)
        if not self._loader_busy:
            self._loader_busy = True
            self._loader = asyncio.get_running_loop().create_task(self._process_pending(pending))
            return pending
        if len(self._queue) >= self.settings.max_queue:
            self.stats.rejected += 1
            raise QueueFullError()
        self._queue.append(pending)
        self._count_pending()
        return pending

    def _abandon(self, pending: _Pending) -> None:
        """A request that gave up leaves the queue; a runner already granted to it is released."""
        if pending in self._queue:
            self._queue.remove(pending)
            self._count_pending()
        if pending.granted.done() and not pending.granted.cancelled() and pending.granted.exception() is None:
            runner = pending.granted.result()
            if runner is not None:
                self._finished(runner)
        else:
            pending.granted.cancel()

    def _count_pending(self) -> None:
        self.stats.pending = len(self._queue)
        self.stats.peak_pending = max(self.stats.peak_pending, self.stats.pending)

    # ------------------------------------------------------------------------------------ loader

    async def _process_pending(self, first: _Pending) -> None:
        """``processPending``: take requests one at a time; load, or evict and load."""
        pending: _Pending | None = first
        try:
            while pending is not None:
                if not pending.granted.done():  # else the client gave up while queued
                    await self._schedule(pending)
                pending = self._queue.popleft() if self._queue else None
                self._count_pending()
        finally:
            self._loader_busy = False

    async def _schedule(self, pending: _Pending) -> None:
        request = pending.request
        while not pending.granted.done():
            self._purge_expired()
            runner = self._runners.get(request.key)
            victim: _Runner | None = None
            if runner is not None:
                if not await self._settled(runner):
                    continue
                if not runner.needs_reload(request):
                    self._use_loaded(runner, request)
                    self._grant(pending, runner)
                    return
                victim = runner
            elif len(self._runners) >= self._max_runners():
                victim = self._runner_to_unload()
            else:
                await self._load(pending)
                return
            if victim is None:
                continue
            await self._expire_and_wait(victim)

    def _grant(self, pending: _Pending, runner: _Runner | None) -> None:
        if pending.granted.done():
            if runner is not None:
                self._finished(runner)
            return
        pending.granted.set_result(runner)  # type: ignore[arg-type]

    def _max_runners(self) -> int:
        # 0 is automatic: three per GPU, and a host without one counts as one.
        limit = self.settings.max_loaded_models
        return limit if limit > 0 else MODELS_PER_GPU

    def _runner_to_unload(self) -> _Runner | None:
        """``findRunnerToUnload``: shortest keep-alive first (then key); an idle one if there is one."""
        ordered = sorted(self._runners.values(), key=lambda runner: (runner.session_ns % 2**64, runner.key))
        if not ordered:
            return None
        return next((runner for runner in ordered if runner.ref_count == 0), ordered[0])

    async def _expire_and_wait(self, runner: _Runner) -> None:
        """Expire ``runner`` now (or when its requests end) and wait until some runner unloads."""
        if self._unloaded is None:
            self._unloaded = asyncio.Event()
        unloaded = self._unloaded
        runner.session_ns = 0
        runner.expires_monotonic = math.inf
        if runner.ref_count <= 0:
            self._remove(runner)
        await unloaded.wait()

    async def _load(self, pending: _Pending) -> None:
        """``load``: start the runner and wait until it answers (``llama.Load`` waits for llama-server),
        holding up the loader and so the queue; only then is the runner registered for later requests.
        The load is tied to the request that started it: if that request goes, the load is abandoned.
        A load that fails is that request's error (``req.errCh``); the requests queued behind it try
        their own load, as Ollama's do."""
        request = pending.request
        session = self.settings_session_ns() if request.session_ns is None else request.session_ns
        runner = _Runner(request, parallel_slots(request.model, self.settings.num_parallel), session)
        self.stats.loads += 1
        engine = self.engines.engine_for(request.model)
        synthetic = engine is self.engines.synthetic
        if synthetic and self.settings.load_seconds <= 0:
            runner.served = self.engines.synthetic.runner  # instant: no turn of the event loop
        else:
            delay = self.settings.load_seconds if synthetic else 0.0
            loading = asyncio.ensure_future(self._load_runner(engine, request, runner.parallel, delay))
            try:
                watched: list[asyncio.Future[Any]] = [loading, pending.granted]
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not loading.done():
                    loading.cancel()  # the runner's start cleans up after itself
                    self._closing.add(loading)
                    loading.add_done_callback(self._closing.discard)
            if not pending.granted.done():
                error = loading.exception()
                if error is not None:
                    runner.loaded.set_result(False)
                    pending.granted.set_exception(error)
                    return
                runner.served = loading.result()
            elif loading.done() and not loading.cancelled() and loading.exception() is None:
                self._close_served(loading.result())
        if pending.granted.done():  # the loading request was cancelled: the load fails
            runner.loaded.set_result(False)
            return
        runner.loaded.set_result(True)
        runner.ref_count += 1
        self._runners[runner.key] = runner
        self._grant(pending, runner)

    @staticmethod
    async def _load_runner(
        engine: InferenceEngine, request: RunnerRequest, parallel: int, delay: float
    ) -> ModelRunner:
        if delay > 0:
            await asyncio.sleep(delay)
        values = dict(request.runner_options)
        options = LoadOptions(
            num_ctx=request.context_length,
            num_parallel=parallel,
            num_batch=int(values.get("num_batch") or 0),
            num_thread=int(values.get("num_thread") or 0),
        )
        try:
            served: ModelRunner = await engine.load(request.model, options)
        except EngineError:
            raise
        except Exception as error:  # an engine's own failure still answers, as Ollama's load errors do
            raise EngineError(str(error)) from error
        return served

    def settings_session_ns(self) -> int:
        seconds = self.settings.keep_alive_seconds
        return FOREVER_NS if seconds < 0 else int(seconds * _NS)

    # ----------------------------------------------------------------------------------- release

    def _finished(self, runner: _Runner) -> None:
        """A request ended (``processCompleted``): expire now, or start the keep-alive countdown."""
        runner.ref_count -= 1
        if runner.ref_count > 0 or runner.unloaded:
            return
        if runner.session_ns <= 0:
            self._remove(runner)
            return
        now_ns = self._wall_clock_ns()
        runner.expires_at_ns = now_ns + runner.session_ns
        runner.expires_monotonic = (
            math.inf if runner.session_ns >= FOREVER_NS else self.clock() + runner.session_ns / _NS
        )
        if runner.expires_monotonic < math.inf and runner.served is not None and runner.served.measured:
            # A real model's process ends at its expiry, not at the next request that looks.
            delay = runner.expires_monotonic - self.clock()
            asyncio.get_running_loop().call_later(max(0.0, delay) + 0.001, self._purge_expired)

    def expire(self, model: LocalModel) -> None:
        """``expireRunner``: unload ``model`` now, or as soon as its running requests finish."""
        runner = self._runners.get(runner_key(model))
        if runner is None:
            return
        runner.expires_at_ns = self._wall_clock_ns()
        runner.session_ns = 0
        if runner.ref_count <= 0:
            self._remove(runner)

    async def unload(self, model: LocalModel) -> None:
        """Async form of :meth:`expire` for callers on the event loop."""
        self.expire(model)

    def _remove(self, runner: _Runner) -> None:
        """Unload ``runner``; whoever waits for an unload is told once its runner is closed."""
        if self._runners.get(runner.key) is runner:
            del self._runners[runner.key]
            self.stats.unloads += 1
        runner.unloaded = True
        unloaded, self._unloaded = self._unloaded, None
        served, runner.served = runner.served, None
        closing = self._close_served(served) if served is not None else None
        if closing is None:
            self._signal(unloaded)
        else:
            closing.add_done_callback(lambda _: self._signal(unloaded))

    def _close_served(self, served: ModelRunner) -> asyncio.Task[None]:
        closing = asyncio.get_running_loop().create_task(served.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return closing

    async def close(self) -> None:
        """Unload every model and wait until their runners are closed (the emulator is stopping)."""
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loader
        for runner in list(self._runners.values()):
            self._remove(runner)
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _purge_expired(self) -> None:
        now = self.clock()
        for runner in list(self._runners.values()):
            if runner.ref_count <= 0 and runner.ready and runner.expires_monotonic <= now:
                self._remove(runner)

    @staticmethod
    def _signal(event: asyncio.Event | None) -> None:
        if event is not None:
            event.set()

    # ------------------------------------------------------------------------------------ status

    def running(self) -> list[dict[str, Any]]:
        """``/api/ps`` entries (``loadedModels`` + ``PsHandler``): the one expiring last first."""
        self._purge_expired()
        now_ns = self._wall_clock_ns()
        entries: list[tuple[int, dict[str, Any]]] = []
        for runner in self._runners.values():
            model = runner.model
            expires_ns = runner.expires_at_ns
            if expires_ns is None:  # still loading or never idle: estimated from the session
                expires_ns = now_ns + runner.session_ns
            short = model.name.display_shortest()
            entry_details = details(model.config)
            entry_details.pop("context_length", None)
            entry_details.pop("embedding_length", None)
            size = (runner.served.size if runner.served is not None else None) or model.size
            entries.append(
                (
                    expires_ns // _NS,
                    {
                        "name": short,
                        "model": short,
                        "size": size,
                        "digest": model.digest_hex,
                        "details": entry_details,
                        "expires_at": format_time_ns(min(expires_ns, _LATEST_FORMATTABLE_NS)),
                        "size_vram": size if self.settings.gpu else 0,
                        "context_length": runner.context_length,
                    },
                )
            )
        entries.sort(key=lambda entry: entry[0], reverse=True)
        return [entry for _, entry in entries]

    def loaded_runners(self) -> list[tuple[LocalModel, ModelRunner]]:
        """Each loaded model (as the request that loaded it named it) and its runner."""
        return [
            (runner.model, runner.served) for runner in self._runners.values() if runner.served is not None
        ]

    def is_loaded(self, model: LocalModel) -> bool:
        self._purge_expired()
        runner = self._runners.get(runner_key(model))
        return runner is not None and runner.ready
