"""How the models a task names get onto its server: the seam between a server and where models come from.

The default pulls from the registry; the S3 cache supplies its own preparer that restores blobs before
pulling and saves new ones afterwards, without the server class knowing about S3.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ollama import ProgressResponse

    from airflow_provider_ollama.hooks.ollama import OllamaHook
    from airflow_provider_ollama.server.local import LocalOllamaServer

log = logging.getLogger(__name__)

_PROGRESS_STEP_PERCENT = 10
_PROGRESS_EVERY_S = 15.0


@runtime_checkable
class ModelPreparer(Protocol):
    """Makes models available on a running per-task server, and tidies up after the task's work.

    ``prepare`` runs once the server answers HTTP, before the task's work; afterwards every named model
    must be on the server (the server checks). ``finish`` runs after the work, while the server still
    runs (not when the task is killed): the place to save what the task added. ``succeeded`` says whether
    the work raised.
    """

    def prepare(self, server: LocalOllamaServer, models: Sequence[str]) -> None: ...

    def finish(self, server: LocalOllamaServer, *, succeeded: bool) -> None: ...


class PullModels:
    """The default preparer: pull each model the server does not have yet from its registry.

    :param insecure: allow plain-HTTP registries and unverified TLS (private registries in a lab).
    """

    def __init__(self, *, insecure: bool = False) -> None:
        self.insecure = insecure

    def prepare(self, server: LocalOllamaServer, models: Sequence[str]) -> None:
        pull_missing_models(server.hook, models, insecure=self.insecure)

    def finish(self, server: LocalOllamaServer, *, succeeded: bool) -> None:
        """Nothing to tidy: pulled models die with the server's store unless it is shared."""

    def __repr__(self) -> str:
        return f"PullModels(insecure={self.insecure})"


def pull_missing_models(hook: OllamaHook, models: Sequence[str], *, insecure: bool = False) -> dict[str, str]:
    """Pull every model in ``models`` that ``hook``'s server lacks; return ``{name: digest}`` of those pulled."""
    pulled: dict[str, str] = {}
    for model in models:
        if hook.has_model(model):
            log.info("Model %s is already on %s", model, hook.base_url)
            continue
        started = time.monotonic()
        pulled[model] = hook.pull(model, insecure=insecure, progress=PullProgressLog(model))
        log.info("Pulled %s (%s) in %.1f s", model, pulled[model], time.monotonic() - started)
    return pulled


class PullProgressLog:
    """A pull progress callback that logs each layer's download every 10 % or 15 s.

    A multi-gigabyte pull reports progress hundreds of times a second; the task log gets a few lines.
    (The hook already logs each new status, such as "verifying sha256 digest", once.)
    """

    def __init__(self, model: str, *, logger: logging.Logger | None = None) -> None:
        self._model = model
        self._logger = logger or log
        self._last_percent: dict[str, int] = {}
        self._last_logged_at: dict[str, float] = {}

    def __call__(self, progress: ProgressResponse) -> None:
        if progress.digest and progress.total:
            self._log_download(progress.digest, progress.completed or 0, progress.total)

    def _log_download(self, digest: str, completed: int, total: int) -> None:
        percent = min(100, completed * 100 // total)
        step = percent // _PROGRESS_STEP_PERCENT * _PROGRESS_STEP_PERCENT
        now = time.monotonic()
        previous = self._last_percent.get(digest)
        due = now - self._last_logged_at.get(digest, now) >= _PROGRESS_EVERY_S
        if previous is None or step > previous or (due and percent < 100):
            self._last_percent[digest] = step
            self._last_logged_at[digest] = now
            self._logger.info(
                "pull %s: %s %3d%% (%s of %s)",
                self._model,
                digest[:19],
                percent,
                _human_bytes(completed),
                _human_bytes(total),
            )


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
