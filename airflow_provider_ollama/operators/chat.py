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
)
from airflow_provider_ollama.batch.formats import ResponseFormatSpec
from airflow_provider_ollama.operators.batch import (
    BaseOllamaBatchOperator,
    rendered_list,
    resolved_at_runtime,
)
from airflow_provider_ollama.operators.generate import check_options

Message = Mapping[str, Any]


class OllamaChatOperator(BaseOllamaBatchOperator):
    """Answer ``messages`` (one conversation) or ``conversations`` (a batch of them) with ``model``.

    A conversation is a list of ``{"role": "system" | "user" | "assistant" | "tool", "content": ...}``
    messages (``images`` may go on a message); the result is the assistant's reply as a record:
    ``response`` (text, or parsed JSON with ``format``), ``done_reason``, token counts, durations,
    ``tokens_per_second``, and ``thinking`` / ``tool_calls`` when the model produced them. One
    conversation returns its record, a batch the list in input order, ``output_uri`` the summary.

    .. code-block:: python

        OllamaChatOperator(
            task_id="answer",
            model="llama3.2:1b",
            system="Answer in one sentence.",
            conversations=[
                [{"role": "user", "content": "Why is the sky blue?"}],
                [{"role": "user", "content": "Why is the sea salty?"}],
            ],
        )

    :param messages: one conversation (templated).
    :param conversations: a list of conversations (templated): literal, an upstream ``.output``, or a
        Jinja string rendering to a list (``render_template_as_native_obj=True``).
    :param system: system prompt for conversations that bring none of their own (templated).
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
        "system",
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
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: ResponseFormatSpec = None,
        think: bool | str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.messages = messages
        self.conversations = conversations
        self.system = system
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
        if messages is not None and not resolved_at_runtime(messages):
            self._checked(validate_conversations, [messages])
        if conversations is not None and not resolved_at_runtime(conversations):
            self._checked(validate_conversations, conversations)
        self._checked(validate_format, format)
        if options is not None and not resolved_at_runtime(options):
            self._checked(check_options, options)
        if tools is not None and (
            isinstance(tools, str | Mapping) or not all(isinstance(tool, Mapping) for tool in tools)
        ):
            raise TypeError(f"{self.task_id}: tools must be a list of tool definitions (dicts)")

    def returns_one_item(self) -> bool:
        return self.messages is not None

    def build_batch(self) -> ChatBatch:
        if self.messages is not None:
            conversations: object = [rendered_list(self.task_id, "messages", self.messages)]
        else:
            conversations = rendered_list(self.task_id, "conversations", self.conversations)
        check_options(self.options)
        options = GenerationOptions(
            system=self.system,
            options=self.options,
            format=self.format,
            think=self.think,
        )
        return ChatBatch(self.model, validate_conversations(conversations), options=options, tools=self.tools)
