"""Constants and helpers shared by the cache tests (fixtures live in conftest.py; S3 in tests/support).

Kept out of conftest.py so that test modules and spawned workers import them under one name.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

AWS_CONN_ID = "model_cache_s3"
BUCKET = "model-cache"
#: Small parts so that a few MiB exercise multipart uploads and parallel ranged downloads.
SMALL_PARTS = {"multipart_threshold": 5 << 20, "multipart_chunksize": 5 << 20, "max_concurrency": 4}


def cache_outcome(status: str, *, s3: int = 0, host: int = 0, registry: int = 0) -> dict[str, object]:
    """One model's entry in the model cache example's ``cache_report``: where its bytes came from."""
    return {
        "status": status,
        "bytes_from_s3": s3,
        "bytes_from_host_cache": host,
        "bytes_from_registry": registry,
    }


def replace_object(s3_client: Any, key: str, body: bytes) -> None:
    """Overwrite an object but keep its metadata, as silent corruption at rest would."""
    metadata = s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)


def run_in_spawned_workers(
    target: Callable[..., None], argument_lists: list[tuple[Any, ...]], timeout: float = 180
) -> list[dict[str, Any]]:
    """Run ``target`` in one spawned process per argument tuple; they start the real work together.

    ``target`` gets each tuple plus a barrier and a result queue (see tests/cache/workers.py).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(argument_lists))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*arguments, barrier, results)) for arguments in argument_lists
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    errors = [outcome["worker_error"] for outcome in outcomes if "worker_error" in outcome]
    assert not errors, "\n".join(errors)
    return outcomes
