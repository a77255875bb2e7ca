"""Constants and helpers shared by the cache tests (fixtures live in conftest.py).

Kept out of conftest.py so that test modules and spawned workers import them under one name.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

AWS_CONN_ID = "model_cache_s3"
AWS_ACCESS_KEY = "testing"
#: Never expected in any message, log line or report.
AWS_SECRET = "moto-secret-that-must-never-be-logged"
BUCKET = "model-cache"
#: Small parts so that a few MiB exercise multipart uploads and parallel ranged downloads.
SMALL_PARTS = {"multipart_threshold": 5 << 20, "multipart_chunksize": 5 << 20, "max_concurrency": 4}


def aws_connection_json(endpoint: str, *, login: str = AWS_ACCESS_KEY, password: str = AWS_SECRET) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": login,
            "password": password,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )


@dataclass(frozen=True)
class S3Call:
    operation: str
    key: str | None


class S3CallLog(list[S3Call]):
    """API operations seen by every botocore client in this process, in order."""

    def operations(self, *names: str) -> list[S3Call]:
        return [call for call in self if call.operation in names]

    @property
    def writes(self) -> list[S3Call]:
        return self.operations("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")

    @property
    def reads(self) -> list[S3Call]:
        return self.operations("GetObject", "HeadObject")


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
