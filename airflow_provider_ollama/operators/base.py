"""``BaseOllamaOperator``: the one switch every model operator has between a shared and a per-task server.

A DAG moves from a laptop to a GPU fleet by changing arguments, not code: subclasses write their work once
against a ready hook and inherit the wait (deferrable), the per-task server, model preparation and cleanup.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, Literal, get_args

import jinja2
from airflow.providers.common.compat.sdk import conf
from airflow.sdk import BaseOperator, Context

from airflow_provider_ollama.cache.reports import CacheRunReport
from airflow_provider_ollama.cache.settings import ModelCache
from airflow_provider_ollama.cache.supply import ModelSupply
from airflow_provider_ollama.deadlines import check_timeout, task_start
from airflow_provider_ollama.exceptions import OllamaServerNotReadyError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.operators._checks import argument_errors
from airflow_provider_ollama.server.local import LocalOllamaServer
from airflow_provider_ollama.server.settings import LocalServer
from airflow_provider_ollama.templating import require_rendered
from airflow_provider_ollama.triggers.ollama import (
    OllamaServerReadyTrigger,
    not_ready_message,
    raise_for_server_ready_event,
)

ServerMode = Literal["shared", "local"]
SERVER_MODES: tuple[str, ...] = get_args(ServerMode)
#: What ``server=`` takes: the shortcuts, or the settings of a per-task server.
ServerChoice = ServerMode | LocalServer
#: The XCom key of the S3 model cache's report (``CacheRunReport.to_dict()``), next to the return value.
CACHE_XCOM_KEY = "ollama_cache"

# The trigger reports its own timeout clearly; Airflow's deferral timeout only backs it up.
_DEFERRAL_BACKSTOP_S = 60.0
# A check is one cheap GET; a shared server that comes up is noticed within this.
_POKE_INTERVAL_S = 5.0


class BaseOllamaOperator(BaseOperator):
    """Base class of the model operators: get a ready :class:`OllamaHook`, then :meth:`run` the work on it.

    ``server="shared"`` (default) uses the server of ``ollama_conn_id``. The operator checks it once;
    if it does not answer and ``deferrable=True``, the wait moves to the triggerer and the task resumes
    in :meth:`execute_complete` (otherwise it checks again on the worker, every 5 s or a tenth of
    ``timeout``). The models the operator needs (:meth:`models_to_prepare`) are then pulled when
    missing and :meth:`run` gets the connection's hook.

    ``server=LocalServer(...)`` starts ``ollama serve`` inside the task (:class:`LocalOllamaServer`) as
    its settings say (GPUs, ``num_parallel``, ``keep_alive``, a kept ``models_dir``...; ``server="local"``
    is ``LocalServer()``), prepares the models on it, calls :meth:`run` with a hook on it, and stops it
    afterwards: on success, failure, ``on_kill``, ``execution_timeout``, or a killed task process.

    Writing an operator on top::

        class OllamaVersionOperator(BaseOllamaOperator):
            def run(self, context: Context, hook: OllamaHook) -> Any:
                return hook.version()

    With ``cache="s3://bucket/prefix"`` (or a :class:`~airflow_provider_ollama.cache.ModelCache` with
    its connection, policy and host cache) models come from the S3 model cache where it has them, and
    what is pulled from the registry is saved there (see docs/cache.md): on a per-task server straight
    into its store, through the worker's verified host blob cache; on a shared server through its blobs
    API, with the worker copying misses from the registry into S3 first. The outcome per model goes to
    the log and to the XCom key ``ollama_cache``.

    Override :meth:`models_to_prepare` to add models the operator's own arguments name (e.g. ``model=``).

    :param server: ``"shared"`` (the server of ``ollama_conn_id``), ``"local"`` (a per-task server with
        Ollama's defaults) or a :class:`~airflow_provider_ollama.server.LocalServer` (a per-task server
        as it says) (templated, also the settings' own fields).
    :param ollama_conn_id: connection of the shared server (templated).
    :param deferrable: shared server: wait for it in the triggerer, not in a worker slot.
    :param timeout: seconds to wait for the server to answer: the shared one (counted from the task's
        start, each check at most the connection's ``request_timeout``; then fail with
        :class:`~airflow_provider_ollama.exceptions.OllamaServerNotReadyError`), or the per-task one
        just started.
    :param cache: the S3 model cache: ``"s3://bucket/prefix"`` (read and written through ``aws_default``)
        or a :class:`~airflow_provider_ollama.cache.ModelCache` (templated, also its own fields); None:
        models come from the registry only. Needs ``pip install 'airflow-provider-ollama[amazon]'``.
    """

    template_fields: Sequence[str] = ("server", "ollama_conn_id", "cache")
    #: The method :meth:`execute` defers to; subclasses that defer for their own reasons use other names.
    resume_method: ClassVar[str] = "execute_complete"

    def __init__(
        self,
        *,
        server: ServerChoice = "shared",
        ollama_conn_id: str = OllamaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        timeout: float = 300.0,
        cache: ModelCache | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.server = server
        self.ollama_conn_id = ollama_conn_id
        self.cache = cache
        self.deferrable = deferrable
        self.timeout = timeout
        # Template fields are checked once rendered (check_arguments); the others now, when the DAG is parsed.
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"{self.task_id}: timeout must be a positive number of seconds, got {timeout!r}")
        self._local_server: LocalOllamaServer | None = None

    # --- what subclasses implement or extend -----------------------------------------------------

    def run(self, context: Context, hook: OllamaHook) -> Any:
        """The operator's work, against a ready server; its return value becomes the task's XCom."""
        raise NotImplementedError(f"{type(self).__name__} must implement run(context, hook)")

    def models_to_prepare(self) -> list[str]:
        """Models that must be on the server before :meth:`run` (after templates are rendered); none here,
        subclasses name theirs (the operator's ``model``, a Modelfile's base...)."""
        return []

    def model_supply(self) -> ModelSupply:
        """Where the models come from: the S3 cache the rendered ``cache`` names, else the registry."""
        return ModelSupply.from_settings(ModelCache.of(self.cache))

    # --- the S3 model cache ----------------------------------------------------------------------

    def push_cache_report(self, context: Context, report: CacheRunReport | dict[str, Any] | None) -> None:
        """Push the cache's report under the XCom key ``ollama_cache`` (when it has models to tell of)."""
        document = report.to_dict() if isinstance(report, CacheRunReport) else report
        if not document or not document.get("models") or not self.do_xcom_push:
            return
        context["ti"].xcom_push(key=CACHE_XCOM_KEY, value=document)

    # --- the switch -----------------------------------------------------------------------------

    @property
    def poke_interval(self) -> float:
        """Seconds between checks of a shared server that does not answer yet: 5, or a tenth of
        ``timeout`` when that is shorter."""
        return min(_POKE_INTERVAL_S, self.timeout / 10)

    @cached_property
    def hook(self) -> OllamaHook:
        """Hook on the shared server of ``ollama_conn_id`` (in :meth:`run`, use the hook it is given)."""
        return OllamaHook(self.ollama_conn_id)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        # Airflow renders a settings value's fields in place: a copy keeps the DAG's own value a template
        # for the next task that shares it (mapped instances, dag.test() runs in one process).
        if isinstance(self.server, LocalServer):
            self.server = copy.copy(self.server)
        if isinstance(self.cache, ModelCache):
            self.cache = copy.copy(self.cache)
        super().render_template_fields(context, jinja_env)

    def check_arguments(self) -> None:
        """Check the rendered template fields, and what depends on them, before any server is touched.

        Runs at the start of :meth:`execute` (and again when a deferred task resumes as a fresh
        operator). Subclasses extend it and call ``super()``; a ``ValueError`` or ``TypeError`` raised
        here gets the task's id.
        """
        require_rendered("ollama_conn_id", self.ollama_conn_id)
        if not isinstance(self.ollama_conn_id, str) or not self.ollama_conn_id.strip():
            raise ValueError(f"ollama_conn_id rendered to {self.ollama_conn_id!r}; name a connection")
        settings = self.local_server_settings()
        if settings is not None:
            settings.validate()
        self.models_to_prepare()
        cache = ModelCache.of(self.cache)
        if cache is not None:
            cache.validate()

    def local_server_settings(self) -> LocalServer | None:
        """The per-task server the rendered ``server`` describes; None for the shared one."""
        server = self.server
        if isinstance(server, LocalServer):
            return server
        if server == "local":
            return LocalServer()
        if server == "shared":
            return None
        raise ValueError(
            f"server={server!r} is not a server: use 'shared' (the server of ollama_conn_id), 'local' (an "
            "`ollama serve` started for this task) or LocalServer(...) (one started with your settings)"
        )

    def execute(self, context: Context) -> Any:
        with argument_errors(self.task_id):
            self.check_arguments()
        if self.local_server_settings() is not None:
            return self._execute_on_local_server(context)
        hook = self.hook
        # Counted from the task's start, so the time before this line is part of the wait too.
        deadline = task_start(context) + self.timeout
        if self.deferrable:
            problem = hook.not_ready_reason(timeout=check_timeout(hook.settings.check_timeout, deadline))
            if problem is not None:
                self._defer_until_ready(hook, deadline, problem)
        else:
            self._wait_on_the_worker(hook, deadline)
        return self._execute_on_shared_server(context, hook)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the shared server became ready (or the wait failed: then raise its typed error)."""
        ready = raise_for_server_ready_event(event)
        self.log.info("%s", ready["message"])
        with argument_errors(self.task_id):
            self.check_arguments()
        return self._execute_on_shared_server(context, self.hook)

    def on_kill(self) -> None:
        """Stop the per-task server (called on SIGTERM and on ``execution_timeout``)."""
        server = self._local_server
        if server is not None:
            self.log.info("Task killed: stopping the per-task Ollama server %r", server)
            server.stop()

    @property
    def local_server(self) -> LocalOllamaServer | None:
        """The per-task server while :meth:`run` runs in local mode (its ``url``, ``models_dir``...)."""
        return self._local_server

    def build_local_server(self) -> LocalOllamaServer:
        """The (not yet started) per-task server this operator's arguments describe."""
        return LocalOllamaServer(
            self.local_server_settings(),
            models=self.models_to_prepare(),
            timeout=self.timeout,
            preparer=self.model_supply(),
        )

    def _execute_on_local_server(self, context: Context) -> Any:
        server = self.build_local_server()
        self._local_server = server
        try:
            with server:
                if isinstance(server.preparer, ModelSupply):
                    # Before the work, so that a task that fails still tells what its models cost.
                    self.push_cache_report(context, server.preparer.report)
                return self.run(context, server.hook)
        finally:
            self._local_server = None

    def _execute_on_shared_server(self, context: Context, hook: OllamaHook) -> Any:
        supply = self.model_supply()
        supply.prepare(hook, self.models_to_prepare())
        self.push_cache_report(context, supply.report)
        return self.run(context, hook)

    def _wait_on_the_worker(self, hook: OllamaHook, deadline: float) -> None:
        try:
            hook.wait_until_ready(timeout=max(deadline - time.time(), 0), poke_interval=self.poke_interval)
        except OllamaServerNotReadyError as failure:
            last = failure.__cause__ or failure
            raise self._not_ready(hook, deadline, str(last)) from last

    def _not_ready(self, hook: OllamaHook, deadline: float, last_check: str) -> OllamaServerNotReadyError:
        """The error that ends a wait at ``deadline``, worded like the trigger's."""
        return OllamaServerNotReadyError(
            not_ready_message(
                self.ollama_conn_id, hook.base_url, deadline, [], missing=None, last_check=last_check
            )
        )

    def _defer_until_ready(self, hook: OllamaHook, deadline: float, problem: str) -> None:
        if time.time() >= deadline:
            raise self._not_ready(hook, deadline, problem)
        self.log.info(
            "Ollama at %s is not ready (%s); waiting in the triggerer for up to %.0f s more",
            hook.base_url,
            problem,
            deadline - time.time(),
        )
        self.defer(
            # Only the server is awaited: missing models are pulled on the worker after resuming, because
            # a trigger may run twice and must never start a pull.
            trigger=OllamaServerReadyTrigger(
                self.ollama_conn_id,
                end_time=deadline,
                poke_interval=self.poke_interval,
            ),
            method_name=self.resume_method,
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_BACKSTOP_S),
        )
