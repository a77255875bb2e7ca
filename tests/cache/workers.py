"""Entry points for the worker processes of the concurrency tests (spawned, so importable by name).

Each worker is what one Airflow task would do on its own worker slot. Results go back through a queue
as plain dicts; an exception becomes ``{"worker_error": <traceback>}`` so the test can show it.
"""

from __future__ import annotations

import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from airflow_provider_ollama.cache import HostBlobCache, S3ModelCache
from airflow_provider_ollama.store import ModelStore

BARRIER_TIMEOUT = 120


def save_then_restore(
    cache_kwargs: dict[str, Any],
    source: str,
    shared_target: str,
    model: str,
    barrier: Barrier,
    results: Queue[Any],
) -> None:
    """Restore into the shared store (hit or miss), save from this task's store, restore again."""
    try:
        cache = S3ModelCache(**cache_kwargs)
        cache.lookup("warm-up:latest")  # build the client before the race starts
        barrier.wait(BARRIER_TIMEOUT)
        first = cache.restore(ModelStore(shared_target), model)
        saved = cache.save(ModelStore(source), model, raise_errors=True)
        second = cache.restore(ModelStore(shared_target), model)
        results.put({"first": first.status, "saved": saved.status, "second": second.status})
    except BaseException:
        results.put({"worker_error": traceback.format_exc()})


def restore_through_host_cache(
    cache_kwargs: dict[str, Any],
    target: str,
    host_root: str,
    model: str,
    barrier: Barrier,
    results: Queue[Any],
) -> None:
    """Restore into this task's own store, sharing the host's blob cache with the other workers."""
    try:
        cache = S3ModelCache(**cache_kwargs)
        cache.lookup("warm-up:latest")
        barrier.wait(BARRIER_TIMEOUT)
        report = cache.restore(ModelStore(Path(target)), model, host_cache=HostBlobCache(host_root))
        results.put(report.to_dict())
    except BaseException:
        results.put({"worker_error": traceback.format_exc()})
