"""Pull progress for a task log: a few lines per layer (percent, MB/s, ETA) and one summary per model.

Ollama reports a download about every 60 ms; a line per report would bury the log, so each layer gets a
line every tenth of its size or every ``interval`` seconds (which also shows a download that stopped).
Ollama sends no report when a download ends (and none at all for a blob fetched within 60 ms): a layer
is done when the server moves on to the next one, since it fetches them one after the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ollama

from airflow_provider_ollama.sizes import format_rate, format_size

_STEPS = 10  # one line per tenth of a layer
#: Statuses that start a phase worth a line of its own (the rest are per-layer or the final success).
_PHASE_STATUSES = ("verifying sha256 digest", "writing manifest", "removing unused layers")


class LineLogger(Protocol):
    """What the reporter needs of a logger (``logging.Logger`` and Airflow's loggers have it)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass
class _Layer:
    """One blob of the model, as the server reports it."""

    total: int
    first_completed: int
    completed: int
    first_seen: float
    logged_step: int = -1
    logged_at: float = 0.0
    changed_at: float = 0.0

    @property
    def downloaded(self) -> int:
        return max(0, self.completed - self.first_completed)

    @property
    def was_present(self) -> bool:
        """Already complete the first time the server mentioned it (on disk, or resumed to the end)."""
        return self.first_completed >= self.total


class PullProgressReporter:
    """A progress callback for one model's pull, kept across retries so the summary covers all attempts.

    :param model: the model name, as the log lines should show it.
    :param logger: where lines go (the operator's or the trigger's logger).
    :param interval: seconds after which a layer gets a line even without a new tenth.
    :param clock: monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        model: str,
        *,
        logger: LineLogger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.model = model
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._layers: dict[str, _Layer] = {}
        self._phases_logged: set[str] = set()
        self.last_status: str | None = None

    def __call__(self, update: ollama.ProgressResponse) -> None:
        status = update.status or ""
        self.last_status = status
        self._finish_layers_before(update.digest)
        if update.digest and update.total:
            self._on_layer(update.digest, update.total, update.completed or 0)
        elif status in _PHASE_STATUSES and status not in self._phases_logged:
            self._phases_logged.add(status)
            self._logger.info("pull %s: %s", self.model, status)

    def new_attempt(self) -> None:
        """A retry starts: phases may be logged again (per-layer state stays, downloads resume)."""
        self._phases_logged.clear()

    @property
    def downloaded_bytes(self) -> int:
        """Bytes the server fetched from the registry while this reporter watched."""
        return sum(layer.downloaded for layer in self._layers.values())

    @property
    def partly_downloaded(self) -> bool:
        """Whether a layer stopped part of the way: what the server keeps and a retry resumes."""
        return any(0 < layer.completed < layer.total for layer in self._layers.values())

    @property
    def total_bytes(self) -> int:
        """Size of every layer the server mentioned (the model's size once the pull is done)."""
        return sum(layer.total for layer in self._layers.values())

    def stalled_layer(self) -> str:
        """Where the pull stands, for stall messages: the layer last moving and its percent, or the status."""
        if self.last_status is None:
            return "the server sent nothing"
        unfinished = [
            (digest, layer) for digest, layer in self._layers.items() if layer.completed < layer.total
        ]
        if not unfinished:
            return f"last status {self.last_status!r}"
        digest, layer = max(unfinished, key=lambda item: item[1].changed_at)
        return f"layer {_short(digest)} at {_percent(layer)}% of {format_size(layer.total)}"

    def summary(self, digest: str, previous_digest: str | None, *, model_size: int | None = None) -> str:
        """One line for the end of the pull: what changed, size, time and rate.

        ``previous_digest`` is the model's digest before the pull (``None`` if the server lacked it);
        the same digest after it means the model was already up to date. ``model_size`` (the server's
        listing of the model) is its size; without it, the size of the layers the server mentioned.
        """
        elapsed = self._clock() - self._started
        size = format_size(self.total_bytes if model_size is None else model_size)
        if digest == previous_digest:
            return f"{self.model} is already up to date ({digest}, {size}); checked in {elapsed:.1f} s"
        verb = "Pulled" if previous_digest is None else f"Updated (was {previous_digest[:19]}…)"
        if not self.downloaded_bytes:
            # Blobs the server had, or small ones fetched between two reports: no rate to tell.
            return f"{verb} {self.model} ({digest}, {size}) in {elapsed:.1f} s"
        return (
            f"{verb} {self.model} ({digest}, {size}): {format_size(self.downloaded_bytes)} downloaded in "
            f"{elapsed:.1f} s ({format_rate(self.downloaded_bytes, elapsed)})"
        )

    def _finish_layers_before(self, digest: str | None) -> None:
        """The server moved on (another layer, or a phase): layers it was fetching are complete."""
        now = self._clock()
        for seen, layer in self._layers.items():
            if seen != digest and layer.completed < layer.total:
                layer.completed = layer.total
                layer.changed_at = now
                self._log_layer(seen, layer, _STEPS, now)

    def _on_layer(self, digest: str, total: int, completed: int) -> None:
        now = self._clock()
        layer = self._layers.get(digest)
        if layer is None:
            layer = _Layer(total, completed, completed, now, changed_at=now)
            self._layers[digest] = layer
            if layer.was_present:
                return  # nothing to watch: a present blob gets one report, already complete
        if completed != layer.completed:
            layer.completed = completed
            layer.changed_at = now
        layer.total = total
        step = _percent(layer) * _STEPS // 100
        if step > layer.logged_step or now - layer.logged_at >= self._interval:
            self._log_layer(digest, layer, step, now)

    def _log_layer(self, digest: str, layer: _Layer, step: int, now: float) -> None:
        layer.logged_step = max(step, layer.logged_step)
        layer.logged_at = now
        elapsed = now - layer.first_seen
        head = (
            f"pull {self.model}: layer {_short(digest)} {_percent(layer):3d}% of {format_size(layer.total)}"
        )
        if layer.completed >= layer.total:
            self._logger.info(
                "%s, done in %.1f s (%s)", head, elapsed, format_rate(layer.downloaded, elapsed)
            )
            return
        idle = now - layer.changed_at
        if idle >= self._interval:
            self._logger.info("%s, no progress for %.1f s", head, idle)
            return
        rate = layer.downloaded / elapsed if elapsed > 0 else 0.0
        eta = format_eta((layer.total - layer.completed) / rate) if rate > 0 else "unknown"
        self._logger.info("%s at %s, ETA %s", head, format_rate(layer.downloaded, elapsed), eta)


def format_eta(seconds: float) -> str:
    """``75`` -> ``"1m15s"``; ``4000`` -> ``"1h06m"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _percent(layer: _Layer) -> int:
    return min(100, layer.completed * 100 // layer.total) if layer.total else 100


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
