"""Argument checks the generate operators run before any request, so bad input fails in the first second.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong type) with one message naming the
argument and the fix, and returns the value in the form the engine takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

from airflow_provider_ollama.modelfile.parameters import ParameterValueError, check_option

OnError: TypeAlias = Literal["fail", "collect"]

#: One generate item: the prompt, or ``{"prompt": ..., "images": [...], "template": ...}`` for an item
#: with images (base64 strings or file paths) or a prompt template of its own (Go template syntax).
PromptItem: TypeAlias = "str | Mapping[str, Any]"

_PROMPT_ITEM_KEYS = frozenset({"prompt", "images", "template"})
#: File endings the ollama client reads as image paths (anything else is taken for base64 data).
_IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_MAX_LISTED = 5


def validate_prompts(prompt: object = None, prompts: object = None) -> list[PromptItem]:
    """The batch's items from exactly one of ``prompt`` (one item) and ``prompts`` (a list).

    Empty prompts are refused: Ollama answers an empty prompt by loading the model and returning no
    text, which in a batch is almost always a hole in the upstream data, not an intent. An item's image
    paths must exist on the worker (the client would fail each request on them).
    """
    if prompt is not None and prompts is not None:
        raise ValueError("give either prompt (one) or prompts (a list), not both")
    if prompt is None and prompts is None:
        raise ValueError("nothing to generate: give prompt (one) or prompts (a list)")
    if prompts is None:
        items: list[object] = [prompt]
    elif isinstance(prompts, str | bytes | Mapping) or not isinstance(prompts, Sequence):
        raise TypeError(
            f"prompts must be a list of strings, not {type(prompts).__name__}; for one prompt use prompt="
        )
    else:
        items = list(prompts)
    if not items:
        raise ValueError("prompts is empty: nothing to generate (check the upstream task's output)")
    empty: list[int] = []
    for index, item in enumerate(items):
        text = _prompt_text(index, item)
        if not text:
            empty.append(index)
    if empty:
        raise ValueError(
            f"{len(empty)} prompt(s) are empty (index {_listed(empty)}); Ollama treats an empty prompt as "
            "'load the model' and generates nothing: drop or fill them upstream"
        )
    return cast("list[PromptItem]", items)


def validate_conversations(conversations: object) -> list[list[dict[str, Any]]]:
    """Chat items: a list of conversations, each a non-empty list of ``{"role", "content", ...}``."""
    if isinstance(conversations, str | bytes | Mapping) or not isinstance(conversations, Sequence):
        raise TypeError(
            "messages must be a list of conversations, each a list of {'role', 'content'} dicts, "
            f"not {type(conversations).__name__}"
        )
    if not conversations:
        raise ValueError("messages is empty: nothing to chat about (check the upstream task's output)")
    checked: list[list[dict[str, Any]]] = []
    for index, conversation in enumerate(conversations):
        if isinstance(conversation, str | bytes | Mapping) or not isinstance(conversation, Sequence):
            raise TypeError(
                f"conversation {index} must be a list of message dicts, not {type(conversation).__name__} "
                "(for a single conversation, wrap it in a list)"
            )
        if not conversation:
            raise ValueError(f"conversation {index} has no messages")
        for position, message in enumerate(conversation):
            if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
                raise ValueError(
                    f"conversation {index}, message {position} must be a dict with a 'role' "
                    "('system', 'user', 'assistant' or 'tool') and 'content'"
                )
        checked.append([dict(message) for message in conversation])
    return checked


def validate_embed_inputs(inputs: object) -> list[str]:
    """Embed items: a non-empty list of non-empty strings (one vector each)."""
    if isinstance(inputs, str):
        return validate_embed_inputs([inputs])
    if isinstance(inputs, bytes | Mapping) or not isinstance(inputs, Sequence):
        raise TypeError(f"input must be a string or a list of strings, not {type(inputs).__name__}")
    if not inputs:
        raise ValueError("input is empty: nothing to embed (check the upstream task's output)")
    wrong = [index for index, text in enumerate(inputs) if not isinstance(text, str)]
    if wrong:
        raise TypeError(f"every input must be a string; index {_listed(wrong)} is not")
    empty = [index for index, text in enumerate(inputs) if not text]
    if empty:
        raise ValueError(
            f"{len(empty)} input(s) are empty (index {_listed(empty)}); Ollama returns no vector "
            "for them: drop or fill them upstream"
        )
    return list(inputs)


def validate_options(options: object) -> Mapping[str, Any] | None:
    """``options`` checked: None or a dict whose values have the types Ollama requires (``TypeError`` for
    something else, ``ValueError`` for an option of the wrong type, such as ``num_predict='ten'``)."""
    if options is None:
        return None
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
    return options


def validate_max_concurrency(max_concurrency: object) -> int:
    """At least 1 request in flight; match the server's OLLAMA_NUM_PARALLEL for best throughput."""
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise TypeError(f"max_concurrency must be an integer, not {type(max_concurrency).__name__}")
    if max_concurrency < 1:
        raise ValueError(
            f"max_concurrency must be at least 1, got {max_concurrency}; "
            "set it to the server's OLLAMA_NUM_PARALLEL for best throughput"
        )
    return max_concurrency


def validate_on_error(on_error: object) -> OnError:
    """``"fail"`` (stop at the first failed item) or ``"collect"`` (record failures, fail at the end)."""
    if on_error not in ("fail", "collect"):
        raise ValueError(
            f"on_error={on_error!r} is not supported: use 'fail' to stop at the first failed item, "
            "or 'collect' to finish the batch and record per-item errors"
        )
    return on_error


def _prompt_text(index: int, item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        unknown = set(item) - _PROMPT_ITEM_KEYS
        if unknown:
            raise ValueError(
                f"prompt {index} has unknown keys {sorted(unknown)}; an item dict takes 'prompt', 'images' "
                "and 'template'"
            )
        text = item.get("prompt")
        if isinstance(text, str):
            _check_images(index, item.get("images"))
            if not isinstance(item.get("template", ""), str):
                raise TypeError(f"prompt {index}: template must be text (a Go template)")
            return text
    raise TypeError(
        f"prompt {index} must be a string (or a dict with a 'prompt' string), not {type(item).__name__}"
    )


def _check_images(index: int, images: object) -> None:
    if images is None:
        return
    if (
        isinstance(images, str)
        or not isinstance(images, Sequence)
        or not all(isinstance(i, str) for i in images)
    ):
        raise TypeError(f"prompt {index}: images must be a list of base64 strings or file paths")
    missing = [
        image
        for image in images
        if image.lower().endswith(_IMAGE_FILE_SUFFIXES) and not Path(image).is_file()
    ]
    if missing:
        raise ValueError(f"prompt {index}: image file(s) not found on the worker: {missing[:3]}")


def _listed(indices: list[int]) -> str:
    shown = ", ".join(str(index) for index in indices[:_MAX_LISTED])
    return shown + (", ..." if len(indices) > _MAX_LISTED else "")
