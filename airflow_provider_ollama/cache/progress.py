"""Progress lines for long blob transfers, at most one every few seconds.

s3transfer reports progress per chunk from its worker threads; logging each call would flood the task
log, so this callback aggregates and logs on a timer, and stays silent for small blobs.
"""

from __future__ import annotations

import logging
import threading
import time

from airflow_provider_ollama.sizes import format_size, megabytes_per_second

#: Blobs smaller than this finish quickly enough that a progress line is noise.
LOG_PROGRESS_ABOVE_BYTES = 256 << 20
LOG_PROGRESS_EVERY_SECONDS = 10.0


class TransferProgress:
    """An s3transfer ``Callback``: logs ``verb label: 45% (…)`` every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        verb: str,
        label: str,
        total: int,
        *,
        interval: float = LOG_PROGRESS_EVERY_SECONDS,
        min_size: int = LOG_PROGRESS_ABOVE_BYTES,
    ) -> None:
        self._logger = logger
        self._verb = verb
        self._label = label
        self._total = total
        self._interval = interval
        self._enabled = total >= min_size
        self._done = 0
        self._started = time.monotonic()
        self._next_log = self._started + interval
        self._lock = threading.Lock()

    @property
    def transferred(self) -> int:
        return self._done

    def __call__(self, increment: int) -> None:
        with self._lock:
            # A retried part reports negative progress first; the total stays meaningful.
            self._done += increment
            now = time.monotonic()
            if not self._enabled or now < self._next_log:
                return
            self._next_log = now + self._interval
            done = self._done
        elapsed = now - self._started
        percent = 100 * done / self._total if self._total else 100.0
        self._logger.info(
            "%s %s: %.0f%% (%s of %s, %.0f MB/s)",
            self._verb,
            self._label,
            percent,
            format_size(done, binary=True),
            format_size(self._total, binary=True),
            megabytes_per_second(done, elapsed),
        )
