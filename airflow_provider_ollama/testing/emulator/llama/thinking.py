"""Thinking in a model's answer, split off as Ollama splits it for a Go-template model.

Ollama infers a model's thinking tags from its template: where a range over ``.Messages`` prints
``.Thinking``, the text that opens and closes that block (``<think>`` and ``</think>``) are the tags.
With ``think`` on, an answer that starts with the opening tag (or whose prompt already ends with it)
is thinking up to the closing tag and content after it; whitespace right after either tag is dropped.
Tags split across streamed pieces are held back until they are whole.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_ollama.testing.emulator.llama.gotemplate import Action, Branch, Field, Pipeline, Text


def infer_tags(nodes: list[Any]) -> tuple[str, str]:
    """The (opening, closing) thinking tags of a parsed template, or ``("", "")``."""
    tags = ("", "")

    def uses_messages(pipe: Pipeline) -> bool:
        return any(
            isinstance(arg, Field) and arg.names[:1] == ["Messages"]
            for command in pipe.commands
            for arg in command.args
        )

    def visit(node: Any, lists: list[list[Any]], in_messages_range: bool) -> None:
        nonlocal tags
        if isinstance(node, list):
            for child in node:
                visit(child, [*lists, node], in_messages_range)
        elif isinstance(node, Branch):
            # inside a range, what counts is whether the nearest range is over .Messages
            inner = uses_messages(node.pipe) if node.kind == "range" else in_messages_range
            visit(node.pipe, lists, inner)
            visit(node.body, lists, inner)
            visit(node.otherwise or [], lists, inner)
        elif isinstance(node, Action):
            visit(node.pipe, lists, in_messages_range)
        elif isinstance(node, Pipeline):
            for command in node.commands:
                for arg in command.args:
                    visit(arg, lists, in_messages_range)
        elif isinstance(node, Field) and node.names[:1] == ["Thinking"] and in_messages_range and lists:
            enclosing = lists[-1]
            opening = enclosing[0].text.strip() if isinstance(enclosing[0], Text) else ""
            closing = enclosing[-1].text.strip() if isinstance(enclosing[-1], Text) else ""
            tags = (opening, closing)

    visit(nodes, [], False)
    return tags


class ThinkingSplitter:
    """Feeds on streamed text; returns (thinking, content) for each piece."""

    def __init__(self, opening: str, closing: str) -> None:
        self.opening = opening
        self.closing = closing
        self._state = "looking"  # looking -> thinking -> done (with whitespace eaten after each tag)
        self._eat_space = False
        self._pending = ""

    def add(self, text: str) -> tuple[str, str]:
        self._pending += text
        thinking: list[str] = []
        content: list[str] = []
        while True:
            progressed = self._step(thinking, content)
            if not progressed:
                return "".join(thinking), "".join(content)

    def _step(self, thinking: list[str], content: list[str]) -> bool:
        pending = self._pending
        if self._eat_space:
            pending = pending.lstrip()
            self._pending = pending
            if not pending:
                return False
            self._eat_space = False
        if self._state == "looking":
            stripped = pending.lstrip()
            if stripped.startswith(self.opening):
                self._pending = stripped[len(self.opening) :]
                self._state, self._eat_space = "thinking", True
                return True
            if not stripped or self.opening.startswith(stripped):
                return False  # may still become the opening tag
            self._state, self._pending = "done", ""
            content.append(pending)
            return False
        if self._state == "thinking":
            if self.closing in pending:
                before, _, after = pending.partition(self.closing)
                thinking.append(before)
                self._pending = after
                self._state, self._eat_space = "done", True
                return True
            held = _tag_prefix_at_end(pending, self.closing)
            thinking.append(pending[: len(pending) - held])
            self._pending = pending[len(pending) - held :]
            return False
        content.append(pending)
        self._pending = ""
        return False


def _tag_prefix_at_end(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for length in range(min(len(tag), len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0
