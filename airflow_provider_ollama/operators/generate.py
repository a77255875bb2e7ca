"""``OllamaGenerateOperator``: one prompt or a batch of prompts through ``/api/generate``.

Arguments are checked before any server starts; the batch engine sends the prompts with bounded
concurrency and returns the results in input order, or writes them to object storage for large batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import XComArg

from airflow_provider_ollama.batch import (
    GenerateBatch,
    GenerationOptions,
    PromptItem,
    validate_format,
    validate_options,
    validate_prompts,
)
from airflow_provider_ollama.batch.formats import ResponseFormatSpec
from airflow_provider_ollama.operators._checks import argument_errors
from airflow_provider_ollama.operators.batch import BaseOllamaBatchOperator, rendered_list


class OllamaGenerateOperator(BaseOllamaBatchOperator):
    """Generate completions for ``prompt`` (one) or ``prompts`` (a batch) with ``model``.

    Each result is a small JSON record: ``response`` (the text, or the parsed JSON with ``format``),
    ``done_reason``, token counts, durations in nanoseconds and ``tokens_per_second``, plus
    ``thinking`` for thinking models. One prompt returns its record; a list returns the records in
    input order; with ``output_uri`` the records go to ``<output_uri>/results.jsonl`` and XCom holds the
    summary. A summary line (items, tokens, wall time, tokens/s) ends the task log.

    .. code-block:: python

        OllamaGenerateOperator(
            task_id="classify",
            model="llama3.2:1b",
            prompts=load_reviews.output,  # a list from an upstream task
            system="Classify the review's sentiment.",
            format={"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}}},
            options={"temperature": 0},
        )

    :param prompt: one prompt (templated).
    :param prompts: a list of prompts (templated): literal, an upstream ``.output``, or a Jinja string
        that renders to a list (needs ``render_template_as_native_obj=True`` on the DAG). An item may be
        ``{"prompt": ..., "images": [...], "template": ...}``: images as base64 strings or file paths on
        the worker, and a prompt template of its own (Go template syntax).
    :param system: system prompt for every item (templated).
    :param options: model options such as ``temperature``, ``num_predict``, ``seed`` (templated).
    :param format: ``"json"``, or a JSON Schema dict: every response is parsed, and checked against
        the schema (a response that does not fit is a failed item).
    :param think: thinking models: ``True``/``False``, or ``"low"``/``"medium"``/``"high"``.

    Shared arguments (``model``, ``max_concurrency``, ``on_error``, ``output_uri``...): see
    :class:`~airflow_provider_ollama.operators.batch.BaseOllamaBatchOperator`; server arguments
    (``server``, ``ollama_conn_id``, ``cache``...): see
    :class:`~airflow_provider_ollama.operators.base.BaseOllamaOperator`.
    """

    template_fields: Sequence[str] = (
        *BaseOllamaBatchOperator.template_fields,
        "prompt",
        "prompts",
        "system",
        "options",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"prompts": "json", "options": "json"}

    def __init__(
        self,
        *,
        model: str,
        prompt: str | None = None,
        prompts: Sequence[PromptItem] | str | XComArg | None = None,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: ResponseFormatSpec = None,
        think: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.prompt = prompt
        self.prompts = prompts
        self.system = system
        self.options = options
        self.format = format
        self.think = think
        if prompt is not None and prompts is not None:
            raise ValueError(f"{self.task_id}: give either prompt (one) or prompts (a list), not both")
        if prompt is None and prompts is None:
            raise ValueError(f"{self.task_id}: nothing to generate: give prompt (one) or prompts (a list)")
        with argument_errors(self.task_id):
            validate_format(format)

    def returns_one_item(self) -> bool:
        return self.prompt is not None

    def build_batch(self) -> GenerateBatch:
        prompts = None if self.prompts is None else rendered_list("prompts", self.prompts)
        options = GenerationOptions(
            system=self.system, options=validate_options(self.options), format=self.format, think=self.think
        )
        return GenerateBatch(self.model, validate_prompts(self.prompt, prompts), options=options)
