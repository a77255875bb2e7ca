"""``OllamaChatOperator``: one conversation or a batch of conversations through ``/api/chat``.

The reply to each conversation is its result; conversations are checked before any server starts and
answered with bounded concurrency, in input order, like the generate operator's prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import XComArg

from airflow_provider_ollama.batch import (
    ChatBatch,
    GenerationOptions,
    validate_conversations,
    validate_format,
    validate_options,
)
from airflow_provider_ollama.batch.formats import ResponseFormatSpec
from airflow_provider_ollama.operators._checks import argument_errors
from airflow_provider_ollama.operators.batch import BaseOllamaBatchOperator, rendered_list

Message = Mapping[str, Any]


class OllamaChatOperator(BaseOllamaBatchOperator):
    """Answer ``messages`` (one conversation) or ``conversations`` (a batch of them) with ``model``.

    A conversation is a list of ``{"role": "system" | "user" | "assistant" | "tool", "content": ...}``
    messages (``images`` may go on a message; a system prompt is a message of its own); the result is
    the assistant's reply as a record: ``response`` (text, or parsed JSON with ``format``),
    ``done_reason``, token counts, durations, ``tokens_per_second``, and ``thinking`` / ``tool_calls``
    when the model produced them. One conversation returns its record, a batch the list in input order,
    ``output_uri`` the summary.

    .. code-block:: python

        OllamaChatOperator(
            task_id="answer",
            model="llama3.2:1b",
            conversations=[
                [
                    {"role": "system", "content": "Answer in one sentence."},
                    {"role": "user", "content": "Why is the sky blue?"},
                ],
                [{"role": "user", "content": "Why is the sea salty?"}],
            ],
        )

    :param messages: one conversation (templated).
    :param conversations: a list of conversations (templated): literal, an upstream ``.output``, or a
        Jinja string rendering to a list (``render_template_as_native_obj=True``).
    :param options: model options such as ``temperature`` or ``num_predict`` (templated).
    :param format: ``"json"`` or a JSON Schema dict: every reply is parsed and checked.
    :param think: thinking models: ``True``/``False`` or ``"low"``/``"medium"``/``"high"``.
    :param tools: tool definitions (JSON dicts, as Ollama takes them); calls come back in ``tool_calls``.

    Shared and server arguments: see
    :class:`~airflow_provider_ollama.operators.batch.BaseOllamaBatchOperator`.
    """

    template_fields: Sequence[str] = (
        *BaseOllamaBatchOperator.template_fields,
        "messages",
        "conversations",
        "options",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "messages": "json",
        "conversations": "json",
        "options": "json",
    }

    def __init__(
        self,
        *,
        model: str,
        messages: Sequence[Message] | str | None = None,
        conversations: Sequence[Sequence[Message]] | str | XComArg | None = None,
        options: Mapping[str, Any] | None = None,
        format: ResponseFormatSpec = None,
        think: bool | str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.messages = messages
        self.conversations = conversations
        self.options = options
        self.format = format
        self.think = think
        self.tools = tools
        if messages is not None and conversations is not None:
            raise ValueError(
                f"{self.task_id}: give either messages (one conversation) or conversations (a list), not both"
            )
        if messages is None and conversations is None:
            raise ValueError(
                f"{self.task_id}: nothing to answer: give messages (one conversation) or conversations (a list)"
            )
        with argument_errors(self.task_id):
            validate_format(format)
        if tools is not None and (
            isinstance(tools, str | Mapping) or not all(isinstance(tool, Mapping) for tool in tools)
        ):
            raise TypeError(f"{self.task_id}: tools must be a list of tool definitions (dicts)")

    def returns_one_item(self) -> bool:
        return self.messages is not None

    def build_batch(self) -> ChatBatch:
        if self.messages is not None:
            conversations: object = [rendered_list("messages", self.messages)]
        else:
            conversations = rendered_list("conversations", self.conversations)
        options = GenerationOptions(
            options=validate_options(self.options), format=self.format, think=self.think
        )
        return ChatBatch(self.model, validate_conversations(conversations), options=options, tools=self.tools)
