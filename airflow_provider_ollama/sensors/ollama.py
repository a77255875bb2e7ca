"""``OllamaServerSensor``: wait until a shared Ollama server answers and holds the models a DAG needs.

Deferrable so that the wait for a booting GPU box or a model someone else pulls costs no worker slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, conf
from airflow.sdk import BaseSensorOperator, Context

from airflow_provider_ollama.deadlines import check_timeout, task_start
from airflow_provider_ollama.exceptions import (
    OllamaServerError,
    OllamaServerNotReadyError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators._checks import argument_errors, model_list
from airflow_provider_ollama.templating import require_rendered
from airflow_provider_ollama.triggers.ollama import (
    OllamaServerReadyTrigger,
    not_ready_message,
    raise_for_server_ready_event,
)

# The trigger reports its own timeout with a clear message; Airflow's deferral timeout is only a backstop
# for a triggerer that never ran it, so it fires a little later.
_DEFERRAL_BACKSTOP_S = 60.0
# Failures of a server that is starting, restarting or overloaded: not ready yet, poke again.
_NOT_READY_ERRORS = (OllamaServerUnreachableError, OllamaTimeoutError, OllamaServerError)


class OllamaServerSensor(BaseSensorOperator):
    """Wait until the connection's Ollama server answers and, optionally, holds ``wait_for_models``.

    With ``deferrable=True`` the server is checked once on the worker; if it is not ready, the wait moves
    to the triggerer (:class:`OllamaServerReadyTrigger`) until it is, or until ``timeout`` seconds have
    passed. For shared servers only: a per-task server (``server="local"``) needs no sensor.

    ``timeout`` counts from the task's start in both modes, and each check waits at most the
    connection's ``request_timeout`` (10 s at most), never past the deadline: against a server that
    accepts connections and never answers, the sensor fails within ``timeout`` plus one check, with
    :class:`~airflow_provider_ollama.exceptions.OllamaServerNotReadyError` (deferrable) or Airflow's
    ``AirflowSensorTimeout`` (on the worker), both naming the server and the last check's outcome.

    :param ollama_conn_id: the connection naming the server (templated).
    :param wait_for_models: models that must be present too, e.g. pulled by another DAG: the sensor waits
        for them and never pulls (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between checks (default 10).
    :param timeout: seconds until the sensor fails (Airflow's default: 7 days).
    """

    template_fields: Sequence[str] = ("ollama_conn_id", "wait_for_models")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        ollama_conn_id: str = OllamaHook.default_conn_name,
        wait_for_models: Sequence[str] = (),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.ollama_conn_id = ollama_conn_id
        self.wait_for_models = wait_for_models
        self.deferrable = deferrable
        #: Epoch seconds when the wait fails, set when the task runs.
        self._deadline: float | None = None

    @cached_property
    def hook(self) -> OllamaHook:
        return OllamaHook(self.ollama_conn_id)

    def _checked_models(self) -> list[str]:
        """``wait_for_models`` after rendering: a list of valid model names (the task id in errors)."""
        with argument_errors(self.task_id):
            require_rendered("ollama_conn_id", self.ollama_conn_id)
            return model_list("wait_for_models", self.wait_for_models)

    def poke(self, context: Context) -> bool:
        """Whether the server answers and holds every model; a rejected token raises at once, and so does
        a check that fails after the deadline."""
        models = self._checked_models()
        url = self.hook.base_url
        timeout = check_timeout(self.hook.settings.check_timeout, self._deadline)
        missing: list[str] | None = None
        try:
            # One request says whether it answers and why not; OllamaAuthError propagates.
            problem = self.hook.not_ready_reason(timeout=timeout)
            if problem is None:
                missing = [model for model in models if not self.hook.has_model(model, timeout=timeout)]
        except _NOT_READY_ERRORS as error:
            problem = str(error)
        if problem is not None:
            self.log.info("Ollama at %s is not ready: %s", url, problem)
        elif missing:
            self.log.info("Ollama at %s answers; still missing: %s", url, ", ".join(missing))
        else:
            self.log.info("Ollama at %s is ready%s", url, f" with {', '.join(models)}" if models else "")
            return True
        self._fail_if_past_deadline(url, models, missing, problem or "")
        return False

    def execute(self, context: Context) -> Any:
        self._checked_models()  # before the first poke: a bad argument is not "not ready yet"
        self._deadline = self._wait_started(context) + self.timeout
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self._defer_until_ready()
        return None

    def _wait_started(self, context: Context) -> float:
        """When the wait began: the task's start (its first try's, for a sensor in reschedule mode)."""
        if self.reschedule and "ti" in context:
            first_try = context["ti"].get_first_reschedule_date(context)
            if first_try is not None:
                return first_try.timestamp()
        return task_start(context)

    def _get_next_poke_interval(
        self,
        started_at: datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        # Airflow sleeps a whole poke_interval even when the timeout comes sooner; the last check belongs
        # at the deadline, not up to poke_interval after it.
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        if self._deadline is None:
            return interval
        return max(0.0, min(interval, self._deadline - time.time()))

    def _fail_if_past_deadline(
        self, url: str, models: list[str], missing: list[str] | None, problem: str
    ) -> None:
        if self._deadline is None or time.time() < self._deadline:
            return
        message = not_ready_message(
            self.ollama_conn_id, url, self._deadline, models, missing=missing, last_check=problem
        )
        # Deferrable, the trigger would have raised this; on the worker, Airflow's own sensor timeout
        # (no retries, soft_fail honoured) with our message.
        raise OllamaServerNotReadyError(message) if self.deferrable else AirflowSensorTimeout(message)

    def _defer_until_ready(self) -> None:
        assert self._deadline is not None  # set by execute()
        self.defer(
            trigger=OllamaServerReadyTrigger(
                self.ollama_conn_id,
                wait_for_models=self._checked_models(),
                end_time=self._deadline,
                poke_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_BACKSTOP_S),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger fired: return if the server is ready, else raise its typed error."""
        ready = raise_for_server_ready_event(event)
        self.log.info(ready["message"])
