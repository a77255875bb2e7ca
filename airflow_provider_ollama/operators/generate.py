"""``OllamaGenerateOperator``: one prompt or a batch of prompts through ``/api/generate``.

Arguments are checked before any server starts; the batch engine sends the prompts with bounded
concurrency and returns the results in input order, or writes them to object storage for large batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import XComArg

from airflow_provider_ollama.batch import GenerateBatch, GenerationOptions, PromptItem, validate_format
from airflow_provider_ollama.batch.formats import ResponseFormatSpec
from airflow_provider_ollama.batch.validation import validate_prompts
from airflow_provider_ollama.modelfile.parameters import ParameterValueError, check_option
from airflow_provider_ollama.operators.batch import (
    BaseOllamaBatchOperator,
    rendered_list,
    resolved_at_runtime,
)

#: File endings the ollama client reads as image paths (anything else is taken for base64 data).
_IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


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
        that renders to a list (needs ``render_template_as_native_obj=True`` on the DAG). An item may
        also be ``{"prompt": ..., "images": [...]}``.
    :param system: system prompt for every item (templated).
    :param template: prompt template overriding the model's (Go template syntax, so not templated).
    :param options: model options such as ``temperature``, ``num_predict``, ``seed`` (templated).
    :param format: ``"json"``, or a JSON Schema dict: every response is parsed, and checked against
        the schema (a response that does not fit is a failed item).
    :param think: thinking models: ``True``/``False``, or ``"low"``/``"medium"``/``"high"``.
    :param images: base64 strings or image file paths: one list shared by every prompt, or one list
        per prompt (a list of lists as long as ``prompts``) (templated).

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
        "images",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "prompts": "json",
        "options": "json",
        "images": "json",
    }

    def __init__(
        self,
        *,
        model: str,
        prompt: str | None = None,
        prompts: Sequence[PromptItem] | str | XComArg | None = None,
        system: str | None = None,
        template: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: ResponseFormatSpec = None,
        think: bool | str | None = None,
        images: Sequence[str] | Sequence[Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.prompt = prompt
        self.prompts = prompts
        self.system = system
        self.template = template
        self.options = options
        self.format = format
        self.think = think
        self.images = images
        if prompt is not None and prompts is not None:
            raise ValueError(f"{self.task_id}: give either prompt (one) or prompts (a list), not both")
        if prompt is None and prompts is None:
            raise ValueError(f"{self.task_id}: nothing to generate: give prompt (one) or prompts (a list)")
        if prompt is not None and not resolved_at_runtime(prompt):
            self._checked(validate_prompts, prompt)
        if prompts is not None and not resolved_at_runtime(prompts):
            self._checked(validate_prompts, None, prompts)
        self._checked(validate_format, format)
        if options is not None and not resolved_at_runtime(options):
            self._checked(check_options, options)

    def returns_one_item(self) -> bool:
        return self.prompt is not None

    def build_batch(self) -> GenerateBatch:
        prompts = None if self.prompts is None else rendered_list(self.task_id, "prompts", self.prompts)
        items = validate_prompts(self.prompt, prompts)
        check_options(self.options)
        shared_images, items = _with_images(self.images, items)
        options = GenerationOptions(
            system=self.system,
            template=self.template,
            options=self.options,
            format=self.format,
            think=self.think,
            images=shared_images,
        )
        return GenerateBatch(self.model, items, options=options)


def check_options(options: object) -> None:
    """Raise ``TypeError`` unless ``options`` is None or a dict (a rendered template may be a string), and
    ``ValueError`` for an option whose value has the wrong type (``num_predict`` must be an integer...)."""
    if options is None:
        return
    if not isinstance(options, Mapping):
        raise TypeError(
            f"options must be a dict such as {{'temperature': 0}}, not {type(options).__name__} "
            "(a templated dict needs render_template_as_native_obj=True on the DAG)"
        )
    for name, value in options.items():
        try:
            check_option(str(name), value)
        except ParameterValueError as error:
            raise ValueError(f"{error.message}; {error.hint}") from None


def _with_images(images: object, items: list[PromptItem]) -> tuple[list[str] | None, list[PromptItem]]:
    """Split ``images`` into the list every prompt shares, or attach one list to each prompt."""
    if images is None:
        return None, items
    if isinstance(images, str | bytes | Mapping) or not isinstance(images, Sequence):
        raise TypeError(f"images must be a list of base64 strings or file paths, not {type(images).__name__}")
    if all(isinstance(image, str) for image in images):
        shared = list(images)
        _check_image_files(shared)
        return shared or None, items
    if not all(
        isinstance(group, list | tuple) and all(isinstance(i, str) for i in group) for group in images
    ):
        raise TypeError(
            "images must be one list of strings shared by every prompt, or one list of strings per prompt"
        )
    if len(images) != len(items):
        raise ValueError(
            f"images has {len(images)} lists but there are {len(items)} prompts: give one list per prompt "
            "(an empty list for a prompt without images), or a flat list every prompt shares"
        )
    with_images: list[PromptItem] = []
    for item, group in zip(items, images, strict=True):
        _check_image_files(group)
        if isinstance(item, str):
            with_images.append({"prompt": item, "images": list(group)})
        else:
            with_images.append({"prompt": item["prompt"], "images": [*(item.get("images") or ()), *group]})
    return None, with_images


def _check_image_files(images: Sequence[str]) -> None:
    # The client reads these as paths and fails on each request otherwise; one error now is clearer.
    missing = [
        image
        for image in images
        if image.lower().endswith(_IMAGE_FILE_SUFFIXES) and not Path(image).is_file()
    ]
    if missing:
        raise ValueError(f"image file(s) not found on the worker: {missing[:3]}")
