"""What Ollama's blob downloader and uploader have in common, stated once for pull and push.

Both cut a blob into parts of the same size, give a failing part the same number of tries, report
progress at the same pace and in lines of the same shape (``pulling <12 hex>`` or ``pushing <12 hex>``).
"""

from __future__ import annotations

from typing import Any

NUM_PARTS = 16
MIN_PART_SIZE = 100 * 1000 * 1000
MAX_PART_SIZE = 1000 * 1000 * 1000
#: Tries of one part (and of an upload's commit) before the transfer fails.
MAX_RETRIES = 6
#: How often a transfer under way reports its progress.
PROGRESS_INTERVAL_S = 0.06


def part_size(total: int) -> int:
    """The size of each part of a ``total``-byte blob: a sixteenth, but 100 MB at least and 1 GB at most."""
    return min(max(total // NUM_PARTS, MIN_PART_SIZE), MAX_PART_SIZE)


def progress_event(action: str, digest: str, total: int, completed: int) -> dict[str, Any]:
    """A ``<action> <12 hex>`` line (``pulling``, ``pushing``); ``total``/``completed`` omitted while
    zero (Go's omitempty)."""
    event: dict[str, Any] = {"status": f"{action} {digest[7:19]}", "digest": digest}
    if total:
        event["total"] = total
    if completed:
        event["completed"] = completed
    return event
