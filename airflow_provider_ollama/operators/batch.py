"""``BaseOllamaBatchOperator``: what the generate, chat and embed operators share around the batch engine.

Each subclass turns its own arguments into a :class:`~airflow_provider_ollama.batch.Batch`; this base checks
them before any server starts, runs the batch on the ready hook and shapes the XCom value.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from airflow.sdk import Context, ObjectStoragePath

from airflow_provider_ollama.batch import (
    DEFAULT_MAX_CONCURRENCY,
    Batch,
    BatchOutcome,
    ItemRecord,
    JsonlResultSink,
    OnError,
    RetryPolicy,
    run_batch,
    validate_max_concurrency,
    validate_on_error,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.operators.base import BaseOllamaOperator

#: Above this many items without ``output_uri`` the operator warns: every record goes through XCom.
LARGE_XCOM_ITEMS = 1000

_T = TypeVar("_T")
# The key Airflow pushes a task's return value under (stable since Airflow 2).
_RETURN_VALUE_KEY = "return_value"


def resolved_at_runtime(value: object) -> bool:
    """Whether ``value`` is known only when the task runs: an XComArg inside, or a Jinja string.

    Such values are checked at the start of ``execute`` (after rendering), literal ones at construction.
    """
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if not isinstance(value, os.PathLike) and callable(getattr(value, "resolve", None)):
        return True  # XComArg, or a mapped task group's argument
    if isinstance(value, Mapping):
        return any(resolved_at_runtime(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(resolved_at_runtime(item) for item in value)
    return False


def rendered_list(task_id: str, argument: str, value: object) -> object:
    """``value`` unchanged, unless it rendered to a string where a list was expected: then say why."""
    if isinstance(value, str):
        raise TypeError(
            f"{task_id}: {argument} rendered to a string ({_preview(value)}), not a list: set "
            "render_template_as_native_obj=True on the DAG so a templated list stays a list, or pass the "
            f"upstream task's output directly ({argument}=upstream_task.output)"
        )
    return value


class BaseOllamaBatchOperator(BaseOllamaOperator):
    """Run many requests on one model with bounded concurrency; results in input order.

    Subclasses implement :meth:`build_batch` (and :meth:`returns_one_item`); everything else is shared:
    the server switch of :class:`BaseOllamaOperator`, concurrency, retries, error handling and the
    resumable output in object storage.

    XCom: with ``output_uri``, the batch summary ``{"uri", "items", "succeeded", "failed", ...}``;
    otherwise one record for a single input, or the list of records in input order.

    :param model: the model to use (templated); pulled first when the server lacks it.
    :param max_concurrency: requests in flight at once; default: ``num_parallel + 2`` for a per-task
        server that sets ``num_parallel``, else 8. Match the server's ``OLLAMA_NUM_PARALLEL`` (a couple
        more keeps its slots busy while answers travel back).
    :param on_error: ``"fail"`` stops at the first failed item; ``"collect"`` finishes the batch,
        records each failure, then fails the task with the count (the records are still pushed to XCom,
        or written to ``output_uri``).
    :param output_uri: write results as JSONL under this object-storage prefix (templated; e.g.
        ``s3://bucket/batches/{{ run_id }}/{{ ti.task_id }}/{{ ti.map_index }}``); a retried task
        resumes there and generates only what is missing. One prefix per batch.
    :param output_conn_id: Airflow connection for ``output_uri`` when the URI does not name one.
    :param request_attempts: tries per request for transient errors (503, 5xx, dropped connection).

    Other arguments: see :class:`BaseOllamaOperator`.
    """

    template_fields: Sequence[str] = (
        *BaseOllamaOperator.template_fields,
        "model",
        "output_uri",
        "output_conn_id",
    )

    def __init__(
        self,
        *,
        model: str,
        max_concurrency: int | None = None,
        on_error: OnError = "fail",
        output_uri: str | ObjectStoragePath | None = None,
        output_conn_id: str | None = None,
        request_attempts: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.max_concurrency = max_concurrency
        self.on_error = on_error
        self.output_uri = output_uri
        self.output_conn_id = output_conn_id
        self.request_attempts = request_attempts
        if not resolved_at_runtime(model):
            self._checked(self._check_model)
        self._checked(validate_on_error, on_error)
        if max_concurrency is not None:
            self._checked(validate_max_concurrency, max_concurrency)
        if (
            isinstance(request_attempts, bool)
            or not isinstance(request_attempts, int)
            or request_attempts < 1
        ):
            raise ValueError(
                f"{self.task_id}: request_attempts must be a positive integer, got {request_attempts!r}"
            )
        self._batch: Batch | None = None

    # --- what subclasses implement ------------------------------------------------------------------

    def build_batch(self) -> Batch:
        """The batch the rendered arguments describe; raise ``ValueError``/``TypeError`` if they are wrong."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_batch()")

    def returns_one_item(self) -> bool:
        """Whether the input was a single item, so XCom holds its record rather than a list of one."""
        return False

    # --- the shared run -----------------------------------------------------------------------------

    def models_to_prepare(self) -> list[str]:
        models = super().models_to_prepare()
        if isinstance(self.model, str) and self.model not in models:
            models.append(self.model)
        return models

    def execute(self, context: Context) -> Any:
        # Rendered arguments are checked here, before a per-task server starts or a deferral begins.
        self._batch = self._checked_batch()
        return super().execute(context)

    def run(self, context: Context, hook: OllamaHook) -> Any:
        batch = self._batch or self._checked_batch()  # a resumed deferral is a fresh operator
        sink = self._result_sink()
        if sink is None and len(batch) > LARGE_XCOM_ITEMS:
            self.log.warning(
                "%d results will go through XCom; for batches this large set output_uri so they go to "
                "object storage as JSONL (and a retried task resumes instead of starting over)",
                len(batch),
            )
        outcome = asyncio.run(self._run_batch(hook, batch, sink))
        value = self._xcom_value(outcome)
        if outcome.summary["failed"]:
            if sink is None and self.do_xcom_push:
                # on_error="collect": the task fails, yet the per-item errors stay readable downstream
                # (trigger_rule="all_done") and in the UI.
                context["ti"].xcom_push(key=_RETURN_VALUE_KEY, value=value)
            outcome.raise_for_failures()
        return value

    def effective_max_concurrency(self) -> int:
        """Requests in flight: ``max_concurrency``, or what fits the server (see the class docstring)."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        settings = self.local_server_settings()
        if settings is not None and settings.num_parallel:
            return settings.num_parallel + 2
        return DEFAULT_MAX_CONCURRENCY

    async def _run_batch(self, hook: OllamaHook, batch: Batch, sink: JsonlResultSink | None) -> BatchOutcome:
        try:
            return await run_batch(
                hook,
                batch,
                max_concurrency=self.effective_max_concurrency(),
                on_error=self.on_error,
                retry=RetryPolicy(max_attempts=self.request_attempts),
                sink=sink,
            )
        finally:
            # The hook's async clients belong to this event loop, which ends with the batch.
            await hook.aclose()

    def _xcom_value(self, outcome: BatchOutcome) -> Any:
        if outcome.records is None:
            return dict(outcome.summary)
        records: list[ItemRecord] = outcome.records
        return records[0] if self.returns_one_item() else records

    def _result_sink(self) -> JsonlResultSink | None:
        if self.output_uri is None or self.output_uri == "":
            return None
        return JsonlResultSink(self.output_uri, conn_id=self.output_conn_id or None)

    # --- checks ---------------------------------------------------------------------------------------

    def _checked_batch(self) -> Batch:
        self._checked(self._check_model)
        if self.output_uri is not None and not isinstance(self.output_uri, str | ObjectStoragePath):
            raise TypeError(
                f"{self.task_id}: output_uri rendered to {type(self.output_uri).__name__}; "
                "give a URI such as 's3://bucket/prefix' or 'file:///data/batches/run-1'"
            )
        return self._checked(self.build_batch)

    def _check_model(self) -> None:
        model = self.model
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model is required: the name of a model, e.g. 'llama3.2:1b' (got {model!r})")
        ModelName.parse(model)

    def _checked(self, check: Callable[..., _T], *args: Any) -> _T:
        """Run a check; its message gets the task id, so a DAG with many tasks points at the right one."""
        try:
            return check(*args)
        except (ValueError, TypeError) as error:
            if str(error).startswith(f"{self.task_id}:"):
                raise
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"{self.task_id}: {error}") from None


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
