"""Deadlines of a wait for a shared server: counted from the task's start, each check bounded by what is left.

The sensor, the operators and the readiness trigger share them, so that a wait ends within its timeout plus
one check however it waits (on the worker, or deferred to the triggerer after a first check there).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

#: The shortest check worth making: a check at the deadline still gets this long to see a ready server.
MIN_CHECK_TIMEOUT_S = 0.5


def task_start(context: Mapping[str, Any]) -> float:
    """When the running task instance started, in epoch seconds (now, outside a task run)."""
    started = getattr(context.get("ti"), "start_date", None)
    return started.timestamp() if isinstance(started, datetime) else time.time()


def check_timeout(limit: float, deadline: float | None) -> float:
    """Seconds one check may take: ``limit``, but not past ``deadline`` (epoch seconds), nor below
    :data:`MIN_CHECK_TIMEOUT_S`."""
    if deadline is None:
        return limit
    return min(limit, max(deadline - time.time(), MIN_CHECK_TIMEOUT_S))
