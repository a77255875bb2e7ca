"""Deferrable wait for a shared Ollama server: the trigger, its one event, and the event's validation.

The wait happens in the triggerer so that no worker slot is held while a server boots or a model arrives;
the worker resumes with one event that :func:`raise_for_server_ready_event` turns into a result or a typed error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ollama.deadlines import check_timeout
from airflow_provider_ollama.exceptions import (
    OllamaError,
    OllamaServerError,
    OllamaServerNotReadyError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
    OllamaTriggerEventError,
    error_class_named,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.triggers._events import TriggerStatus, event_status

# Failures that a server starting up (or restarting) produces: wait and ask again.
_NOT_READY_ERRORS = (OllamaServerUnreachableError, OllamaTimeoutError, OllamaServerError)


class ServerReadyEvent(TypedDict):
    """Payload of the one event :class:`OllamaServerReadyTrigger` yields (JSON-native)."""

    status: str
    message: str
    url: str | None
    version: str | None
    missing_models: list[str]
    #: Name of the provider exception behind an ``error`` (``OllamaAuthError``...), re-raised on the worker.
    error_type: str | None


def deadline_to_epoch(end_time: float | int | str | datetime) -> float:
    """An absolute deadline as seconds since the epoch; accepts epoch seconds, ISO 8601 text or an aware datetime."""
    if isinstance(end_time, bool):
        raise ValueError(f"end_time must be a wall-clock time, not {end_time!r}")
    if isinstance(end_time, int | float):
        return float(end_time)
    if isinstance(end_time, str):
        try:
            return float(end_time)
        except ValueError:
            pass
        try:
            end_time = datetime.fromisoformat(end_time.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"end_time {end_time!r} is neither epoch seconds nor ISO 8601 text") from None
    if isinstance(end_time, datetime):
        if end_time.tzinfo is None:
            raise ValueError(
                f"end_time {end_time.isoformat()} has no time zone; give an aware datetime (UTC)"
            )
        return end_time.timestamp()
    raise ValueError(f"end_time must be epoch seconds, ISO 8601 text or a datetime, not {end_time!r}")


@dataclass
class _Observation:
    ready: bool
    problem: str = "no answer yet"
    version: str | None = None
    missing: list[str] = field(default_factory=list)


class OllamaServerReadyTrigger(BaseTrigger):
    """Wait until the connection's Ollama server answers and holds ``wait_for_models``, or ``end_time`` passes.

    Runs in the triggerer, which may be another process on another host than the worker. It can therefore
    only watch servers that have a network address (a shared server named by a connection); a per-task
    server binds the worker's loopback and is started, watched and stopped inside its task instead.

    It only reads (``/``, ``/api/version``, ``/api/show``), never pulls or generates: after a triggerer
    restart the trigger runs again from scratch, and a repeated read is harmless. Refused connections,
    timeouts and 5xx answers mean "not ready yet": it sleeps ``poke_interval`` and asks again, until the
    absolute wall-clock ``end_time``, which a restarted trigger keeps. Each check is one ``GET /`` that
    waits at most the connection's ``request_timeout`` (10 s at most) and never past ``end_time``, so the
    wait ends within ``end_time`` plus half a second. An authentication failure ends the wait at once.
    Exactly one :class:`ServerReadyEvent` is yielded.

    :param ollama_conn_id: the connection naming the server (its secrets stay in the connection).
    :param wait_for_models: models that must be present for the server to count as ready.
    :param end_time: absolute deadline: epoch seconds, ISO 8601 text or an aware datetime.
    :param poke_interval: seconds between checks.
    """

    def __init__(
        self,
        ollama_conn_id: str = OllamaHook.default_conn_name,
        *,
        wait_for_models: Sequence[str] = (),
        end_time: float | int | str | datetime,
        poke_interval: float = 5.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poke_interval <= 0:
            raise ValueError(f"poke_interval must be positive, got {poke_interval}")
        self.ollama_conn_id = ollama_conn_id
        self.wait_for_models = list(wait_for_models)
        self.end_time = deadline_to_epoch(end_time)
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ollama_conn_id": self.ollama_conn_id,
                "wait_for_models": list(self.wait_for_models),
                "end_time": self.end_time,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = OllamaHook(self.ollama_conn_id)
        try:
            event = await self._wait_for_server(hook)
        finally:
            # The triggerer's event loop outlives this trigger: release the connections it opened.
            await hook.aclose()
        yield event

    async def _wait_for_server(self, hook: OllamaHook) -> TriggerEvent:
        """Poll until ready, deadline or an error waiting cannot fix; the one event that says which."""
        url: str | None = None
        observation = _Observation(ready=False)
        while True:
            try:
                if url is None:
                    url = (await hook.asettings()).base_url
                observation = await self._observe(hook)
            except OllamaError as error:
                return self._event(TriggerStatus.ERROR, str(error), url, observation, error)
            except Exception as error:  # a crash would only surface as an opaque TaskDeferralError
                message = (
                    f"Checking connection {self.ollama_conn_id!r} failed: {type(error).__name__}: {error}"
                )
                return self._event(TriggerStatus.ERROR, message, url, observation, None)
            if observation.ready and not observation.missing:
                message = f"Ollama {observation.version} at {url} is ready"
                return self._event(TriggerStatus.SUCCESS, message, url, observation, None)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                message = self._timeout_message(url, observation)
                return self._event(TriggerStatus.TIMEOUT, message, url, observation, None)
            self.log.info(
                "Ollama server at %s not ready (%s); next check in %.1f s",
                url,
                observation.problem,
                min(self.poke_interval, remaining),
            )
            await asyncio.sleep(min(self.poke_interval, remaining))

    async def _observe(self, hook: OllamaHook) -> _Observation:
        settings = await hook.asettings()
        timeout = check_timeout(settings.check_timeout, self.end_time)
        try:
            # One request says whether it answers and, if not, why: a server that never answers costs
            # one check's time, not two.
            problem = await hook.anot_ready_reason(timeout=timeout)
            if problem is not None:
                return _Observation(ready=False, problem=problem)
            version = await hook.aversion(timeout=timeout)
            missing = [
                model for model in self.wait_for_models if not await hook.ahas_model(model, timeout=timeout)
            ]
        except _NOT_READY_ERRORS as error:
            return _Observation(ready=False, problem=f"{type(error).__name__}: {error}")
        problem = f"missing models: {', '.join(missing)}" if missing else "ready"
        return _Observation(ready=True, problem=problem, version=version, missing=missing)

    def _timeout_message(self, url: str | None, observation: _Observation) -> str:
        return not_ready_message(
            self.ollama_conn_id,
            url,
            self.end_time,
            self.wait_for_models,
            missing=observation.missing if observation.ready else None,
            last_check=observation.problem,
        )

    def _event(
        self,
        status: TriggerStatus,
        message: str,
        url: str | None,
        observation: _Observation,
        error: OllamaError | None,
    ) -> TriggerEvent:
        missing = observation.missing if observation.ready else list(self.wait_for_models)
        payload: ServerReadyEvent = {
            "status": status.value,
            "message": message,
            "url": url,
            "version": observation.version,
            "missing_models": missing,
            "error_type": type(error).__name__ if error is not None else None,
        }
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def not_ready_message(
    conn_id: str,
    url: str | None,
    end_time: float,
    models: Sequence[str],
    *,
    missing: Sequence[str] | None,
    last_check: str,
) -> str:
    """Why a wait for a shared server ended at ``end_time``: it did not answer (``missing`` None), or it
    answered without ``missing``. Shared by the trigger and the waits that end on the worker."""
    deadline = datetime.fromtimestamp(end_time).astimezone().isoformat(timespec="seconds")
    where = f"The Ollama server at {url} (connection {conn_id!r})"
    if missing is not None:
        return (
            f"{where} answered, but {', '.join(missing)} did not appear by {deadline}. "
            "Pull them first (OllamaPullOperator, or OllamaServerOperator with models=[...]) "
            "or drop them from wait_for_models=."
        )
    wanted = f"; it must also hold {', '.join(models)}" if models else ""
    return f"{where} was not ready by {deadline}{wanted}. Last check: {last_check}"


def raise_for_server_ready_event(event: Any) -> ServerReadyEvent:
    """Validate the event a deferred task resumed with; return it on success, else raise a typed error.

    The one place the event's shape is checked, shared by the sensor and every operator that waits for a
    shared server: a missing or malformed event raises :class:`OllamaTriggerEventError`, a timeout
    :class:`OllamaServerNotReadyError`, an error the provider exception the trigger met.
    """
    status = event_status(event, "server-ready")
    message = event.get("message")
    missing = event.get("missing_models", [])
    if not isinstance(message, str) or not isinstance(missing, list):
        raise OllamaTriggerEventError(f"Malformed server-ready event: {event!r}")
    if status is TriggerStatus.SUCCESS:
        return ServerReadyEvent(
            status=status.value,
            message=message,
            url=event.get("url"),
            version=event.get("version"),
            missing_models=missing,
            error_type=None,
        )
    if status is TriggerStatus.TIMEOUT:
        raise OllamaServerNotReadyError(message)
    raise error_class_named(event.get("error_type"))(message)
