"""Deferrable pull on a shared server: a trigger that has the server pull models and follows the download.

The server does the downloading; following its progress stream needs no worker, so the worker slot is
free meanwhile. The task resumes with one event that :func:`raise_for_pull_event` turns into digests or an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ollama.exceptions import (
    OllamaError,
    OllamaPullError,
    OllamaTriggerEventError,
    error_class_named,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.pulling.retry import PullRetryPolicy, pull_models
from airflow_provider_ollama.triggers._events import TriggerStatus, event_status
from airflow_provider_ollama.triggers.ollama import deadline_to_epoch


class PullEvent(TypedDict):
    """Payload of the one event :class:`OllamaPullTrigger` yields (JSON-native)."""

    status: str
    message: str
    #: Each model pulled -> ``sha256:<hex>`` of its manifest (only models that finished).
    digests: dict[str, str]
    #: One summary line per finished model (size, time, rate), for the task log on the worker.
    summaries: list[str]
    #: Name of the provider exception behind an ``error`` (``OllamaModelNotFoundError``...).
    error_type: str | None


class OllamaPullTrigger(BaseTrigger):
    """Have the connection's Ollama server pull ``models`` and follow the downloads until they finish.

    Runs in the triggerer. Unlike most triggers it starts work (``POST /api/pull``) instead of only
    watching, and that is safe here: a pull is idempotent. The same name yields the same manifest, blobs
    are content-addressed, Ollama keeps partial downloads and joins concurrent pulls of a blob. A trigger
    re-run after a triggerer restart therefore issues the pull again and the server continues where it
    stopped; nothing is downloaded twice and no second model appears. (A generate or create would not be
    safe to repeat like this, and none is issued here.)

    Stalls and server errors are retried with backoff like on the worker (see
    :class:`~airflow_provider_ollama.pulling.retry.PullRetryPolicy`) until the absolute wall-clock
    ``end_time``, which a restarted trigger keeps. Exactly one :class:`PullEvent` is yielded.

    Only servers with a network address can be followed from the triggerer: a per-task server lives on
    the worker's loopback, so operators in ``server="local"`` mode never defer.

    :param ollama_conn_id: the connection naming the server (its secrets stay in the connection).
    :param models: the models to pull, in order.
    :param end_time: absolute deadline: epoch seconds, ISO 8601 text or an aware datetime.
    :param insecure: allow plain-HTTP registries.
    :param stall_timeout: seconds without progress before a pull's stream is cancelled and retried.
    :param retries: attempts per model after the first.
    :param retry_delay: seconds before the first retry, doubled for each further one.
    :param progress_interval: seconds between progress lines of a layer that has no new tenth done.
    """

    def __init__(
        self,
        ollama_conn_id: str = OllamaHook.default_conn_name,
        *,
        models: Sequence[str],
        end_time: float | int | str | datetime,
        insecure: bool = False,
        stall_timeout: float = 120.0,
        retries: int = 3,
        retry_delay: float = 5.0,
        progress_interval: float = 10.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if isinstance(models, str) or not models:
            raise ValueError(f"models must be a non-empty list of model names, got {models!r}")
        self.ollama_conn_id = ollama_conn_id
        self.models = list(models)
        self.end_time = deadline_to_epoch(end_time)
        self.insecure = bool(insecure)
        # Checked now, so that bad values fail on the worker before deferring.
        self.policy = PullRetryPolicy(retries=retries, retry_delay=retry_delay, stall_timeout=stall_timeout)
        if progress_interval <= 0:
            raise ValueError(f"progress_interval must be positive, got {progress_interval}")
        self.progress_interval = float(progress_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ollama_conn_id": self.ollama_conn_id,
                "models": list(self.models),
                "end_time": self.end_time,
                "insecure": self.insecure,
                "stall_timeout": self.policy.stall_timeout,
                "retries": self.policy.retries,
                "retry_delay": self.policy.retry_delay,
                "progress_interval": self.progress_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = OllamaHook(self.ollama_conn_id)
        try:
            remaining = self.end_time - time.time()
            if remaining <= 0:
                yield self._event(TriggerStatus.TIMEOUT, self._timeout_message())
                return
            pulled = await asyncio.wait_for(
                pull_models(
                    hook,
                    self.models,
                    insecure=self.insecure,
                    policy=self.policy,
                    logger=self.log,
                    progress_interval=self.progress_interval,
                ),
                remaining,
            )
        except asyncio.TimeoutError:
            yield self._event(TriggerStatus.TIMEOUT, self._timeout_message())
        except OllamaError as error:
            yield self._event(TriggerStatus.ERROR, str(error), error)
        except Exception as error:  # a crash would only surface as an opaque TaskDeferralError
            message = f"Pulling {', '.join(self.models)} failed: {type(error).__name__}: {error}"
            yield self._event(TriggerStatus.ERROR, message)
        else:
            digests = {result.model: result.digest for result in pulled}
            summaries = [result.summary for result in pulled]
            message = f"Pulled {len(pulled)} model(s) through connection {self.ollama_conn_id!r}"
            yield TriggerEvent(  # type: ignore[no-untyped-call]
                PullEvent(
                    status=TriggerStatus.SUCCESS.value,
                    message=message,
                    digests=digests,
                    summaries=summaries,
                    error_type=None,
                )
            )
        finally:
            # Sync clients of the digest lookups; the async ones were closed by pull_models.
            hook.close()

    def _timeout_message(self) -> str:
        deadline = datetime.fromtimestamp(self.end_time).astimezone().isoformat(timespec="seconds")
        return (
            f"Pulling {', '.join(self.models)} through connection {self.ollama_conn_id!r} did not finish by "
            f"{deadline}. Raise pull_timeout, or check the server's download speed in the task log."
        )

    @staticmethod
    def _event(status: TriggerStatus, message: str, error: OllamaError | None = None) -> TriggerEvent:
        """A failure event (timeout or error); success events carry digests and summaries."""
        payload = PullEvent(
            status=status.value,
            message=message,
            digests={},
            summaries=[],
            error_type=type(error).__name__ if error is not None else None,
        )
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def raise_for_pull_event(event: Any) -> PullEvent:
    """Validate the event a deferred pull resumed with; return it on success, else raise a typed error.

    A missing or malformed event raises :class:`OllamaTriggerEventError`, a timeout :class:`OllamaPullError`,
    an error the provider exception the trigger met (e.g. :class:`OllamaModelNotFoundError`).
    """
    status = event_status(event, "pull")
    message = event.get("message")
    digests = event.get("digests")
    summaries = event.get("summaries")
    if not (
        isinstance(message, str)
        and isinstance(digests, dict)
        and all(isinstance(key, str) and isinstance(value, str) for key, value in digests.items())
        and isinstance(summaries, list)
    ):
        raise OllamaTriggerEventError(f"Malformed pull event: {event!r}")
    if status is TriggerStatus.SUCCESS:
        return PullEvent(
            status=status.value,
            message=message,
            digests=dict(digests),
            summaries=[str(line) for line in summaries],
            error_type=None,
        )
    if status is TriggerStatus.TIMEOUT:
        raise OllamaPullError(message)
    raise error_class_named(event.get("error_type"), default=OllamaPullError)(message)
