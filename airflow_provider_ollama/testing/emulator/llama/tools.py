"""Tool calls in a model's answer, read as Ollama reads them for a Go-template model.

Ollama learns from the template how the model writes a call (the text the template puts before a
call's JSON, e.g. ``<tool_call>``) and parses JSON objects with a name and arguments after it. An answer
that starts like a call is held back until it is complete, then becomes ``tool_calls``; any other
answer streams as content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_TAG = re.compile(r"(<[A-Za-z_|\[\]]*tool_?call[A-Za-z_|\]]*>|\[TOOL_CALLS\])", re.IGNORECASE)


def tool_call_tag(template_source: str) -> str:
    """The text a template writes before a call (``<tool_call>``), or ``""`` for bare JSON calls."""
    match = _TAG.search(template_source)
    return match.group(1) if match else ""


class ToolCallReader:
    """Decides, as text arrives, whether an answer is tool calls, and parses them at the end."""

    def __init__(self, tag: str, tools: Sequence[Mapping[str, Any]]) -> None:
        self.tag = tag
        self.names = {str((tool.get("function") or {}).get("name")) for tool in tools}
        self.text = ""

    def could_be_call(self, text: str) -> bool:
        """Whether ``text`` (the answer so far) may still turn out to be a tool call."""
        stripped = text.lstrip()
        if not stripped:
            return True
        prefixes = [self.tag] if self.tag else []
        prefixes.append("{")
        return any(stripped.startswith(p) or p.startswith(stripped) for p in prefixes)

    def calls(self, text: str) -> list[dict[str, Any]]:
        """The tool calls in a complete answer (empty when it is not a call of a known tool)."""
        body = text.strip()
        if self.tag:
            body = body.replace(self.tag, " ")
            closing = self.tag.replace("<", "</", 1) if self.tag.startswith("<") else ""
            if closing:
                body = body.replace(closing, " ")
        calls: list[dict[str, Any]] = []
        decoder = json.JSONDecoder()
        position = 0
        while position < len(body):
            start = body.find("{", position)
            if start < 0:
                break
            try:
                value, end = decoder.raw_decode(body, start)
            except ValueError:
                return []
            position = end
            call = _call(value)
            if call is None or call["function"]["name"] not in self.names:
                return []
            call["function"]["index"] = len(calls)
            calls.append(call)
        return calls


def _call(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None
    return {"function": {"index": 0, "name": name, "arguments": arguments}}
