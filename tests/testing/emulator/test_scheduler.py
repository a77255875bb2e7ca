"""The performance model: parallel slots, the queue, loading, keep-alive, eviction and pacing."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.scheduler import (
    QUEUE_FULL_MESSAGE,
    QueueFullError,
    Scheduler,
)
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings

pytestmark = pytest.mark.asyncio
_DIGESTS = iter(f"{n:064x}" for n in range(1, 1000))


def make_model(name: str = "tiny", context_length: int = 2048) -> LocalModel:
    document = {
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": f"sha256:{next(_DIGESTS)}",
            "size": 100,
        },
        "layers": [
            {
                "mediaType": "application/vnd.ollama.image.model",
                "digest": f"sha256:{next(_DIGESTS)}",
                "size": 1000,
            }
        ],
    }
    return LocalModel(
        name=ModelName.parse(name),
        manifest=Manifest.parse(json.dumps(document).encode()),
        config={
            "model_format": "gguf",
            "model_family": "llama",
            "model_families": ["llama"],
            "model_type": "1.20M",
            "file_type": "Q4_K_M",
        },
        modified_at=datetime.now(timezone.utc),
        gguf_metadata={"general.architecture": "llama", "llama.context_length": context_length},
        capabilities=("completion",),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**overrides: Any) -> EmulatorSettings:
    return replace(EmulatorSettings(), **overrides)


async def hold(scheduler: Scheduler, model: LocalModel, release: asyncio.Event, **use: Any) -> None:
    async with scheduler.use(model, **use) as lease, lease.slot():
        await release.wait()


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def test_slots_bound_how_many_requests_run_at_once() -> None:
    scheduler = Scheduler(settings(num_parallel=4, request_latency_seconds=0.02))
    model = make_model()

    async def one() -> None:
        async with scheduler.use(model) as lease, lease.slot() as pacer:
            await pacer.prompt()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(32)))
    elapsed = time.monotonic() - started
    assert scheduler.stats.peak_active == 4
    assert scheduler.stats.active == 0
    assert scheduler.stats.pending == 0
    assert 0.8 * 8 * 0.02 <= elapsed < 20 * 8 * 0.02


async def test_requests_for_a_loaded_model_wait_for_a_slot_without_limit() -> None:
    """OLLAMA_MAX_QUEUE counts only requests waiting for a model load; a loaded model's requests wait
    for one of its slots however many there are (the runner's semaphore)."""
    scheduler = Scheduler(settings(num_parallel=1, max_queue=1))
    model = make_model()
    async with scheduler.use(model):
        pass  # loaded: from now on its requests do not go through the load queue
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(scheduler, model, release)) for _ in range(5)]
    await wait_until(lambda: scheduler.stats.active == 1 and scheduler.stats.waiting == 4)
    assert scheduler.stats.pending == 0
    assert scheduler.stats.rejected == 0
    release.set()
    await asyncio.gather(*holders)


async def test_full_load_queue_refuses_with_ollamas_message() -> None:
    scheduler = Scheduler(settings(num_parallel=1, max_queue=1, max_loaded_models=1))
    first, second = make_model("first"), make_model("second")
    release = asyncio.Event()
    busy = asyncio.create_task(hold(scheduler, first, release))
    await wait_until(lambda: scheduler.stats.active == 1)
    # The loader takes the first request for "second" and waits for "first" to be evicted; the next
    # one waits in the queue, which holds one.
    loading = [asyncio.create_task(hold(scheduler, second, release)) for _ in range(2)]
    await wait_until(lambda: scheduler.stats.pending == 1)
    with pytest.raises(QueueFullError, match="maximum pending requests exceeded") as caught:
        async with scheduler.use(second):
            pass
    assert str(caught.value) == QUEUE_FULL_MESSAGE
    assert scheduler.stats.rejected == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(busy, *loading), timeout=5)


async def test_cancelled_waiter_leaves_the_queue_and_cancelled_holder_frees_its_slot() -> None:
    scheduler = Scheduler(settings(num_parallel=1, max_loaded_models=1))
    first, second = make_model("first"), make_model("second")
    never = asyncio.Event()
    holder = asyncio.create_task(hold(scheduler, first, never))
    await wait_until(lambda: scheduler.stats.active == 1)
    slot_waiter = asyncio.create_task(hold(scheduler, first, never))
    await wait_until(lambda: scheduler.stats.waiting == 1)
    loader_waiter = asyncio.create_task(hold(scheduler, second, never))
    queued = asyncio.create_task(hold(scheduler, second, never))
    await wait_until(lambda: scheduler.stats.pending == 1)
    queued.cancel()
    await wait_until(lambda: scheduler.stats.pending == 0)
    slot_waiter.cancel()
    await wait_until(lambda: scheduler.stats.waiting == 0)
    loader_waiter.cancel()
    holder.cancel()
    await wait_until(lambda: scheduler.stats.active == 0)
    done = asyncio.Event()
    done.set()
    await asyncio.wait_for(hold(scheduler, second, done), timeout=5)


async def test_concurrent_first_requests_for_a_cold_model_can_fill_the_queue() -> None:
    """Until the loader registers the runner, every request for the model goes to the load queue."""
    scheduler = Scheduler(settings(num_parallel=4, max_queue=1))
    model = make_model()
    results = await asyncio.gather(*(one_request(scheduler, model) for _ in range(4)), return_exceptions=True)
    assert [type(result) for result in results] == [type(None), type(None), QueueFullError, QueueFullError]


async def one_request(scheduler: Scheduler, model: LocalModel) -> None:
    async with scheduler.use(model):
        pass


async def test_embedding_models_get_one_slot_whatever_num_parallel_says() -> None:
    scheduler = Scheduler(settings(num_parallel=4))
    embedder = replace(make_model("embedder"), capabilities=("embedding",))
    async with scheduler.use(embedder):
        pass
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(scheduler, embedder, release)) for _ in range(3)]
    await wait_until(lambda: scheduler.stats.active == 1 and scheduler.stats.waiting == 2)
    release.set()
    await asyncio.gather(*holders)
    assert scheduler.stats.peak_active == 1


async def test_a_request_without_keep_alive_keeps_the_runners_keep_alive() -> None:
    clock = FakeClock()
    scheduler = Scheduler(settings(keep_alive_seconds=5), clock=clock, wall_clock_ns=lambda: 0)
    model = make_model()
    async with scheduler.use(model, keep_alive_seconds=-1):
        pass
    async with scheduler.use(model):
        pass
    clock.now += 10**6
    (entry,) = scheduler.running()
    assert datetime.fromisoformat(entry["expires_at"]).year >= 2250


async def test_two_names_of_one_model_share_a_runner() -> None:
    scheduler = Scheduler(settings())
    model = make_model("original")
    copy = replace(model, name=ModelName.parse("copy"))
    async with scheduler.use(model):
        pass
    async with scheduler.use(copy):
        pass
    assert scheduler.stats.loads == 1
    assert [entry["name"] for entry in scheduler.running()] == ["original:latest"]


async def test_another_shift_reloads_the_model() -> None:
    scheduler = Scheduler(settings())
    model = make_model()
    async with scheduler.use(model):
        pass
    async with scheduler.use(model, shift=False):
        pass
    assert scheduler.stats.loads == 2


async def test_ps_keeps_the_expiry_set_when_the_model_last_went_idle() -> None:
    clock = FakeClock()
    wall = [1_700_000_000 * 10**9]
    scheduler = Scheduler(settings(keep_alive_seconds=60), clock=clock, wall_clock_ns=lambda: wall[0])
    model = make_model()
    async with scheduler.use(model):
        pass
    idle_expiry = scheduler.running()[0]["expires_at"]
    wall[0] += 30 * 10**9
    clock.now += 30
    async with scheduler.use(model):
        assert scheduler.running()[0]["expires_at"] == idle_expiry


async def test_max_loaded_models_zero_means_three() -> None:
    scheduler = Scheduler(settings(max_loaded_models=0))
    for name in ("a", "b", "c", "d"):
        async with scheduler.use(make_model(name)):
            pass
    assert len(scheduler.running()) == 3


async def test_load_takes_load_seconds_once_for_concurrent_requests() -> None:
    scheduler = Scheduler(settings(load_seconds=0.05, num_parallel=2))
    model = make_model()
    durations: list[int] = []

    async def one() -> None:
        async with scheduler.use(model) as lease:
            durations.append(lease.load_duration_ns)

    await asyncio.gather(one(), one())
    assert scheduler.stats.loads == 1
    assert all(duration >= 0.04e9 for duration in durations)
    await one()
    assert durations[-1] < 0.04e9, "a loaded model is not loaded again"


async def test_keep_alive_sets_ps_expiry() -> None:
    clock = FakeClock()
    wall = 1_700_000_000 * 10**9
    scheduler = Scheduler(settings(), clock=clock, wall_clock_ns=lambda: wall)
    async with scheduler.use(make_model(), keep_alive_seconds=90):
        pass
    (entry,) = scheduler.running()
    expires = datetime.fromisoformat(entry["expires_at"])
    assert expires == datetime.fromtimestamp(wall / 1e9, timezone.utc) + timedelta(seconds=90)
    assert entry["name"] == entry["model"] == "tiny:latest"
    assert entry["size_vram"] == 0
    assert entry["context_length"] == 2048


async def test_default_keep_alive_comes_from_settings() -> None:
    clock = FakeClock()
    scheduler = Scheduler(settings(keep_alive_seconds=7), clock=clock, wall_clock_ns=lambda: 0)
    async with scheduler.use(make_model()):
        pass
    expires = datetime.fromisoformat(scheduler.running()[0]["expires_at"])
    assert expires == datetime.fromtimestamp(7, timezone.utc)
    clock.now += 6.9
    assert scheduler.running()
    clock.now += 0.2
    assert scheduler.running() == []
    assert scheduler.stats.unloads == 1


async def test_negative_keep_alive_keeps_the_model_forever() -> None:
    clock = FakeClock()
    scheduler = Scheduler(settings(), clock=clock)
    async with scheduler.use(make_model(), keep_alive_seconds=-1):
        pass
    clock.now += 10**9
    (entry,) = scheduler.running()
    assert datetime.fromisoformat(entry["expires_at"]).year >= 2250


async def test_keep_alive_zero_unloads_after_the_request() -> None:
    scheduler = Scheduler(settings())
    model = make_model()
    async with scheduler.use(model, keep_alive_seconds=0):
        assert scheduler.is_loaded(model)
    assert scheduler.running() == []


async def test_expire_while_busy_unloads_when_the_last_request_ends() -> None:
    scheduler = Scheduler(settings())
    model = make_model()
    async with scheduler.use(model):
        scheduler.expire(model)
        assert scheduler.is_loaded(model)
    assert not scheduler.is_loaded(model)


async def test_loading_beyond_max_loaded_models_evicts_an_idle_model() -> None:
    scheduler = Scheduler(settings(max_loaded_models=1))
    first, second = make_model("first"), make_model("second")
    async with scheduler.use(first):
        pass
    async with scheduler.use(second):
        pass
    assert [entry["name"] for entry in scheduler.running()] == ["second:latest"]
    assert scheduler.stats.loads == 2
    assert scheduler.stats.unloads == 1


async def test_eviction_waits_for_a_busy_model_to_finish() -> None:
    scheduler = Scheduler(settings(max_loaded_models=1))
    first, second = make_model("first"), make_model("second")
    release = asyncio.Event()
    busy = asyncio.create_task(hold(scheduler, first, release))
    await wait_until(lambda: scheduler.stats.active == 1)
    loading = asyncio.create_task(hold(scheduler, second, release))
    await asyncio.sleep(0.05)  # the loader holds the request while it waits for the eviction
    assert not scheduler.is_loaded(second)
    release.set()
    await asyncio.wait_for(asyncio.gather(busy, loading), timeout=5)
    assert scheduler.is_loaded(second)
    assert not scheduler.is_loaded(first)


async def test_ps_lists_the_latest_expiry_first() -> None:
    clock = FakeClock()
    scheduler = Scheduler(settings(), clock=clock)
    for name, keep_alive in (("short", 10), ("long", 1000), ("middle", 100)):
        async with scheduler.use(make_model(name), keep_alive_seconds=keep_alive):
            pass
    assert [entry["name"] for entry in scheduler.running()] == [
        "long:latest",
        "middle:latest",
        "short:latest",
    ]


async def test_gpu_reports_the_model_in_vram() -> None:
    scheduler = Scheduler(settings(gpu=True))
    model = make_model()
    async with scheduler.use(model):
        pass
    assert scheduler.running()[0]["size_vram"] == model.size == 1100


async def test_context_length_is_num_ctx_capped_by_the_model() -> None:
    scheduler = Scheduler(settings(context_length=4096))
    async with scheduler.use(make_model("small", context_length=1024)) as lease:
        assert lease.context_length == 1024
    async with scheduler.use(make_model("big", context_length=8192), num_ctx=512) as lease:
        assert lease.context_length == 512


async def test_another_num_ctx_reloads_the_model() -> None:
    scheduler = Scheduler(settings())
    model = make_model()
    async with scheduler.use(model, num_ctx=512):
        pass
    async with scheduler.use(model, num_ctx=1024) as lease:
        assert lease.context_length == 1024
    assert scheduler.stats.loads == 2


async def test_tokens_are_paced_at_the_token_rate() -> None:
    scheduler = Scheduler(settings(tokens_per_second=200, first_token_seconds=0.05))
    async with scheduler.use(make_model()) as lease, lease.slot() as pacer:
        prompt_ns = await pacer.prompt()
        started = time.monotonic()
        for _ in range(20):
            await pacer.tokens(1)
        elapsed = time.monotonic() - started
        eval_ns = pacer.eval_duration_ns()
    assert prompt_ns >= 0.045e9
    assert 0.09 <= elapsed < 1.0
    assert eval_ns >= 0.09e9
