"""``BaseOllamaBatchOperator``: what the generate, chat and embed operators share around the batch engine.

Each subclass turns its own arguments into a :class:`~airflow_provider_ollama.batch.Batch`; this base checks
them before any server starts, runs the batch on the ready hook and shapes the XCom value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

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
from airflow_provider_ollama.operators._checks import argument_errors, model_name
from airflow_provider_ollama.operators.base import BaseOllamaOperator
from airflow_provider_ollama.templating import require_rendered

#: Above this many items without ``output_uri`` the operator warns: every record goes through XCom.
LARGE_XCOM_ITEMS = 1000

# The key Airflow pushes a task's return value under (stable since Airflow 2).
_RETURN_VALUE_KEY = "return_value"


def rendered_list(argument: str, value: object) -> object:
    """``value`` unchanged, unless it rendered to a string where a list was expected: then say why."""
    if isinstance(value, str):
        raise TypeError(
            f"{argument} rendered to a string ({_preview(value)}), not a list: set "
            "render_template_as_native_obj=True on the DAG so a templated list stays a list, or pass the "
            f"upstream task's output directly ({argument}=upstream_task.output)"
        )
    return value


class BaseOllamaBatchOperator(BaseOllamaOperator):
    """Run many requests on one model with bounded concurrency; results in input order.

    Subclasses implement :meth:`build_batch` (and :meth:`returns_one_item`), which checks their rendered
    inputs; everything else is shared: the server switch of :class:`BaseOllamaOperator`, concurrency,
    retries, error handling and the resumable output in object storage.

    XCom: with ``output_uri``, the batch summary ``{"uri", "items", "succeeded", "failed", ...}``;
    otherwise one record for a single input, or the list of records in input order.

    :param model: the model to use (templated); pulled (or restored from ``cache``) when the server lacks
        it.
    :param max_concurrency: requests in flight at once; default: ``num_parallel + 2`` for a per-task
        server that sets ``num_parallel``, else 8. Match the server's ``OLLAMA_NUM_PARALLEL`` (a couple
        more keeps its slots busy while answers travel back).
    :param on_error: ``"fail"`` stops at the first failed item; ``"collect"`` finishes the batch,
        records each failure, then fails the task with the count (the records are still pushed to XCom,
        or written to ``output_uri``).
    :param output_uri: write results as JSONL under this object-storage prefix (templated): a URI such
        as ``s3://bucket/batches/{{ run_id }}/{{ ti.map_index }}`` (the connection may be named in it:
        ``s3://aws_results@bucket/...``), or an ``ObjectStoragePath``, which carries its connection. A
        retried task resumes there and generates only what is missing. One prefix per batch.
    :param request_retries: retries per request after transient errors (503, 5xx, a dropped connection),
        with backoff; like Airflow's ``retries``, 0 means one try.

    Other arguments: see :class:`BaseOllamaOperator`.
    """

    template_fields: Sequence[str] = (
        *BaseOllamaOperator.template_fields,
        "model",
        "output_uri",
    )

    def __init__(
        self,
        *,
        model: str,
        max_concurrency: int | None = None,
        on_error: OnError = "fail",
        output_uri: str | ObjectStoragePath | None = None,
        request_retries: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.max_concurrency = max_concurrency
        self.on_error = on_error
        self.output_uri = output_uri
        self.request_retries = request_retries
        # Template fields wait for check_arguments; the others are checked when the DAG is parsed.
        with argument_errors(self.task_id):
            validate_on_error(on_error)
            if max_concurrency is not None:
                validate_max_concurrency(max_concurrency)
        if isinstance(request_retries, bool) or not isinstance(request_retries, int) or request_retries < 0:
            raise ValueError(f"{self.task_id}: request_retries must be 0 or more, got {request_retries!r}")
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
        """The batch's ``model``, pulled (or restored from the cache) when the server lacks it."""
        return [model_name("model", self.model)]

    def check_arguments(self) -> None:
        """The rendered model, output and inputs, before a per-task server starts or a deferral begins."""
        super().check_arguments()
        require_rendered("output_uri", self.output_uri)
        if self.output_uri is not None and not isinstance(self.output_uri, str | ObjectStoragePath):
            raise TypeError(
                f"output_uri rendered to {type(self.output_uri).__name__}; give a URI such as "
                "'s3://bucket/prefix' or 'file:///data/batches/run-1', or an ObjectStoragePath"
            )
        self._batch = self.build_batch()

    def run(self, context: Context, hook: OllamaHook) -> Any:
        batch = self._batch or self.build_batch()
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
                retry=RetryPolicy(retries=self.request_retries),
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
        return JsonlResultSink(self.output_uri)


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
