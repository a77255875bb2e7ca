"""``OllamaEmbedOperator``: embed one text or a batch of texts through ``/api/embed``.

Texts go to the server in sub-batches (one request each), several requests at once; the vectors come
back one record per text, in input order, or go to object storage for large corpora.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import XComArg

from airflow_provider_ollama.batch import (
    DEFAULT_EMBED_BATCH_SIZE,
    EmbedBatch,
    validate_embed_inputs,
    validate_options,
)
from airflow_provider_ollama.operators.batch import BaseOllamaBatchOperator, rendered_list


class OllamaEmbedOperator(BaseOllamaBatchOperator):
    """Embed ``input`` (one text, or a list of texts) with an embedding ``model``.

    Each result is ``{"index": i, "embedding": [...]}`` (an L2-normalised vector). A single text
    returns its record, a list the records in input order, ``output_uri`` the summary (token counts
    are per request, so they are in the summary, not in the records).

    .. code-block:: python

        OllamaEmbedOperator(task_id="embed", model="nomic-embed-text", input=chunk_documents.output)

    :param input: a text or a list of texts (templated; an upstream ``.output`` works too).
    :param batch_size: texts per ``/api/embed`` request.
    :param truncate: cut texts longer than the model's context (Ollama's default) or fail on them (False).
    :param dimensions: shorten vectors to this many dimensions (models that support it).
    :param options: model options (templated).

    Shared and server arguments: see
    :class:`~airflow_provider_ollama.operators.batch.BaseOllamaBatchOperator`.
    """

    template_fields: Sequence[str] = (*BaseOllamaBatchOperator.template_fields, "input", "options")
    template_fields_renderers: ClassVar[dict[str, str]] = {"input": "json", "options": "json"}

    def __init__(
        self,
        *,
        model: str,
        input: str | Sequence[str] | XComArg,
        batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
        truncate: bool | None = None,
        dimensions: int | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.input = input
        self.batch_size = batch_size
        self.truncate = truncate
        self.dimensions = dimensions
        self.options = options
        if input is None:
            raise ValueError(f"{self.task_id}: nothing to embed: give input (a text or a list of texts)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self.task_id}: batch_size must be a positive integer, got {batch_size!r}")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ValueError(f"{self.task_id}: dimensions must be a positive integer, got {dimensions!r}")

    def returns_one_item(self) -> bool:
        return isinstance(self.input, str)

    def build_batch(self) -> EmbedBatch:
        inputs = self.input if isinstance(self.input, str) else rendered_list("input", self.input)
        return EmbedBatch(
            self.model,
            validate_embed_inputs(inputs),
            batch_size=self.batch_size,
            truncate=self.truncate,
            dimensions=self.dimensions,
            options=validate_options(self.options),
        )
