"""``OllamaServerSensor``: wait until a shared Ollama server answers and holds the models a DAG needs.

Deferrable so that the wait for a booting GPU box or a model someone else pulls costs no worker slot.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import conf
from airflow.sdk import BaseSensorOperator, Context

from airflow_provider_ollama.exceptions import (
    OllamaServerError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.triggers.ollama import OllamaServerReadyTrigger, raise_for_server_ready_event

# The trigger reports its own timeout with a clear message; Airflow's deferral timeout is only a backstop
# for a triggerer that never ran it, so it fires a little later.
_DEFERRAL_BACKSTOP_S = 60.0
_PROBE_TIMEOUT_S = 10.0
# Failures of a server that is starting, restarting or overloaded: not ready yet, poke again.
_NOT_READY_ERRORS = (OllamaServerUnreachableError, OllamaTimeoutError, OllamaServerError)


class OllamaServerSensor(BaseSensorOperator):
    """Wait until the connection's Ollama server answers and, optionally, holds ``models``.

    With ``deferrable=True`` the server is checked once on the worker; if it is not ready, the wait moves
    to the triggerer (:class:`OllamaServerReadyTrigger`) until it is, or until ``timeout`` seconds have
    passed. For shared servers only: a per-task server (``server="local"``) needs no sensor.

    :param ollama_conn_id: the connection naming the server.
    :param models: models that must be present (e.g. pulled by another DAG); names as for ``ollama pull``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between checks (default 10).
    :param timeout: seconds until the sensor fails (Airflow's default: 7 days).
    """

    template_fields: Sequence[str] = ("ollama_conn_id", "models")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        ollama_conn_id: str = OllamaHook.default_conn_name,
        models: Sequence[str] = (),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.ollama_conn_id = ollama_conn_id
        self.models = models
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> OllamaHook:
        # A poke must not hang for the connection's request timeout (minutes) on a server that accepts
        # connections but does not answer: that counts as "not ready" like a refused connection.
        return OllamaHook(self.ollama_conn_id, timeout=_PROBE_TIMEOUT_S)

    def _checked_models(self) -> list[str]:
        """``models`` after rendering: a list of valid model names."""
        if isinstance(self.models, str) or not all(isinstance(model, str) for model in self.models):
            raise ValueError(f"models must be a list of model names, got {self.models!r}")
        for model in self.models:
            ModelName.parse(model)
        return list(self.models)

    def poke(self, context: Context) -> bool:
        """Whether the server answers and holds every model; a rejected token raises at once."""
        models = self._checked_models()
        url = self.hook.base_url
        try:
            if not self.hook.is_ready(timeout=_PROBE_TIMEOUT_S):
                # Ask again through a call that says why; OllamaAuthError propagates: waiting cannot fix it.
                self.hook.version()
                self.log.info("Ollama at %s does not answer GET / yet", url)
                return False
            missing = [model for model in models if not self.hook.has_model(model)]
        except _NOT_READY_ERRORS as error:
            self.log.info("Ollama at %s is not ready: %s", url, error)
            return False
        if missing:
            self.log.info("Ollama at %s answers; still missing: %s", url, ", ".join(missing))
            return False
        self.log.info("Ollama at %s is ready%s", url, f" with {', '.join(models)}" if models else "")
        return True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self._defer_until_ready()
        return None

    def _defer_until_ready(self) -> None:
        self.defer(
            trigger=OllamaServerReadyTrigger(
                self.ollama_conn_id,
                models=self._checked_models(),
                end_time=time.time() + self.timeout,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_BACKSTOP_S),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired: return if the server is ready, else raise its typed error."""
        ready = raise_for_server_ready_event(event)
        self.log.info(ready["message"])
