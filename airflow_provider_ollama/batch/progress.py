"""Progress lines for a running batch: every tenth of the work or every so many seconds, never per item.

A task log with one line per item is unreadable at 10,000 items; one line per interval still shows
whether the batch moves, how fast, and when it should end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

_FRACTION_STEP = 0.1
#: Fewer items than this still to do get no line per tenth (that would be nearly a line per item):
#: the summary says enough, and a quiet interval still gets its line.
_MIN_ITEMS_FOR_STEPS = 20


class ProgressLog:
    """Counts finished items and logs a progress line when enough items or time have passed."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        label: str,
        total: int,
        already_done: int = 0,
        every_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._label = label
        self._total = total
        self._done = already_done
        self._start_done = already_done
        self._failed = 0
        self._tokens = 0
        # At most ten count-based lines per run, and none for a small batch.
        remaining = total - already_done
        self._every_items = (
            max(1, math.ceil(remaining * _FRACTION_STEP)) if remaining >= _MIN_ITEMS_FOR_STEPS else None
        )
        self._every_seconds = every_seconds
        self._clock = clock
        self._started = clock()
        self._last_line_at = self._started
        self._done_at_last_line = already_done

    @property
    def done(self) -> int:
        return self._done

    def item_finished(self, *, failed: bool, eval_tokens: int) -> None:
        """Count one finished item; log a line if a tenth of the work has passed since the last one
        (only when at least ``_MIN_ITEMS_FOR_STEPS`` items were left to do)."""
        self._done += 1
        self._failed += int(failed)
        self._tokens += eval_tokens
        if (
            self._every_items is not None
            and self._done - self._done_at_last_line >= self._every_items
            and self._done < self._total
        ):
            self.log_line()

    def tick(self, in_flight: int) -> None:
        """Called periodically: log a line if nothing was logged for ``every_seconds``."""
        if self._clock() - self._last_line_at >= self._every_seconds:
            self.log_line(in_flight=in_flight)

    def log_line(self, in_flight: int | None = None) -> None:
        now = self._clock()
        elapsed = max(now - self._started, 1e-9)
        generated = self._done - self._start_done
        rate = generated / elapsed
        remaining = self._total - self._done
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        waiting = f", {in_flight} in flight" if in_flight is not None else ""
        self._log.info(
            "%s: %d/%d items (%d%%), %d failed%s, %.1f items/s, %.1f tokens/s, ETA %s",
            self._label,
            self._done,
            self._total,
            # Rounded down: 99.6% must not read as done.
            100 * self._done // self._total if self._total else 100,
            self._failed,
            waiting,
            rate,
            self._tokens / elapsed,
            eta,
        )
        self._last_line_at = now
        self._done_at_last_line = self._done
