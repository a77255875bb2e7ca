"""Ollama's Anthropic-compatible ``POST /v1/messages``, following middleware/anthropic.go and
anthropic/anthropic.go.

The Messages request becomes a native chat request (``FromMessagesRequest``), runs through the same
chat preparation as ``/api/chat`` (with the route's relaxed thinking: a model that cannot think
ignores ``thinking`` instead of refusing), and every native answer is converted as Ollama's
``AnthropicWriter`` does: one ``message`` object, or ``event: <type>`` server-sent events
(``message_start``, content blocks, ``message_delta``, ``message_stop``); any non-200 answer is an
Anthropic error object (``{"type": "error", "error": {...}, "request_id": ...}``).

Not emulated: the web-search loop Ollama runs when the model calls the built-in ``web_search``
tool (it needs ollama.com).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.completion_routes import prepare_chat, reduce_chat
from airflow_provider_ollama.testing.emulator.http import ApiError, read_json_body
from airflow_provider_ollama.testing.emulator.inference_steps import state_of, unless_disconnected
from airflow_provider_ollama.testing.emulator.openai_routes import cloud_passthrough
from airflow_provider_ollama.testing.emulator.sse import sse_response

_FIELDS = {
    "model": "string",
    "max_tokens": "int",
    "messages": "[]anthropic.MessageParam",
    "system": "interface {}",
    "stream": "bool",
    "temperature": "*float64",
    "top_p": "*float64",
    "top_k": "*int",
    "stop_sequences": "[]string",
    "tools": "[]anthropic.Tool",
    "tool_choice": "*anthropic.ToolChoice",
    "thinking": "*anthropic.ThinkingConfig",
    "metadata": "*anthropic.Metadata",
    "output_config": "*anthropic.OutputConfig",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_WEB_SEARCH_DESCRIPTION = (
    "Search the web for current information. Use this to find up-to-date information about any topic."
)


def _id(prefix: str) -> str:
    """``generateID``: the prefix and 12 random bytes in hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """``anthropic.NewError``."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": _id("req")}


def _error(status: int, message: str, *, middleware: bool = False) -> Response:
    """A middleware abort (gin's JSON, charset) or the writer's ``json.NewEncoder`` (newline)."""
    body = anthropic_error(status, message)
    if middleware:
        content_type, data = "application/json; charset=utf-8", gojson.dumps(body)
    else:
        content_type, data = "application/json", gojson.dumps_line(body)
    return Response(data, status_code=status, headers={"content-type": content_type})


# --------------------------------------------------------------------------------------------------
# Request conversion (FromMessagesRequest)


def _image(source: Any) -> str:
    """``resolveImageSource``: only base64 sources; the bytes travel as base64 in the native request."""
    if not isinstance(source, Mapping):
        raise ValueError("invalid image source")
    kind = str(source.get("type") or "")
    if kind != "base64":
        raise ValueError(f"invalid image source type: {kind}. Only base64 images are supported.")
    data = str(source.get("data") or "")
    try:
        return base64.b64encode(base64.b64decode(data, validate=True)).decode()
    except (binascii.Error, ValueError):
        offset = next((i for i, c in enumerate(data) if not (c.isalnum() or c in "+/=")), len(data))
        raise ValueError(f"invalid base64 image data: illegal base64 data at input byte {offset}") from None


def _tool_result(content: Any) -> tuple[str, list[str]]:
    """``convertToolResultContent``."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return "", []
    text, images = "", []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text += block["text"]
        elif block.get("type") == "image":
            if not isinstance(block.get("source"), Mapping):
                raise ValueError("invalid tool_result image source")
            images.append(_image(block["source"]))
    return text, images


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, Mapping)]


def _convert_message(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``convertMessage``: one native message, with tool results as ``tool`` messages."""
    role = str(message.get("role") or "").lower()
    text, thinking = "", ""
    images: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in _blocks(message.get("content")):
        kind = block.get("type")
        if kind == "text":
            text += str(block.get("text") or "")
        elif kind == "image":
            if block.get("source") is None:
                raise ValueError("invalid image source")
            images.append(_image(block["source"]))
        elif kind in ("tool_use", "server_tool_use"):
            if kind == "tool_use" and not block.get("id"):
                raise ValueError("tool_use block missing required 'id' field")
            if kind == "tool_use" and not block.get("name"):
                raise ValueError("tool_use block missing required 'name' field")
            function = {"name": str(block.get("name") or ""), "arguments": block.get("input") or {}}
            calls.append({"id": str(block.get("id") or ""), "function": function})
        elif kind == "tool_result":
            result, result_images = _tool_result(block.get("content"))
            native: dict[str, Any] = {"role": "tool", "content": result}
            if result_images:
                native["images"] = result_images
            native["tool_call_id"] = str(block.get("tool_use_id") or "")
            results.append(native)
        elif kind == "thinking":
            thinking = str(block.get("thinking") or thinking)
    converted: list[dict[str, Any]] = results if role == "user" else []
    if text or images or calls or thinking:
        native_message: dict[str, Any] = {"role": role, "content": text}
        for key, value in (("thinking", thinking), ("images", images), ("tool_calls", calls)):
            if value:
                native_message[key] = value
        converted.append(native_message)
    return converted if role == "user" else converted + results


def _system(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(block["text"])
            for block in value
            if isinstance(block, Mapping)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
    return ""


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """``convertTool``: built-in web search becomes a ``web_search`` function."""
    if str(tool.get("type") or "").startswith("web_search"):
        parameters: dict[str, Any] = {
            "type": "object",
            "required": ["query"],
            "properties": {
                "query": {"type": "string", "description": "The search query to look up on the web"}
            },
        }
        return {
            "type": "function",
            "function": {
                "name": "web_search",
                "description": _WEB_SEARCH_DESCRIPTION,
                "parameters": parameters,
            },
        }
    function: dict[str, Any] = {
        "name": str(tool.get("name") or ""),
        "description": str(tool.get("description") or ""),
    }
    function["parameters"] = tool.get("input_schema") or {}
    return {"type": "function", "function": function}


def _think(body: Mapping[str, Any]) -> bool | str | None:
    thinking: Mapping[str, Any] = body["thinking"] if isinstance(body.get("thinking"), Mapping) else {}
    if thinking.get("type") == "enabled":
        return True
    if thinking.get("type") == "disabled":
        return False
    config: Mapping[str, Any] = (
        body["output_config"] if isinstance(body.get("output_config"), Mapping) else {}
    )
    effort = str(config.get("effort") or "").strip().lower()
    effort = "high" if effort == "xhigh" else effort
    return effort if effort in ("high", "medium", "low", "max") else None


def from_messages_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``FromMessagesRequest``; raises ``ValueError`` with Ollama's message for a bad block."""
    messages: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or []:
        messages.extend(_convert_message(message if isinstance(message, Mapping) else {}))
    options: dict[str, Any] = {"num_predict": body.get("max_tokens") or 0}
    for key, option in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        if body.get(key) is not None:
            options[option] = body[key]
    if body.get("stop_sequences"):
        options["stop"] = body["stop_sequences"]
    tools = body.get("tools") or []
    builtin = any(str(t.get("type") or "").startswith("web_search") for t in tools if isinstance(t, Mapping))
    native_tools = [
        _tool(tool)
        for tool in tools
        if isinstance(tool, Mapping)
        and not (
            builtin
            and not str(tool.get("type") or "").startswith("web_search")
            and tool.get("name") == "web_search"
        )
    ]
    native: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "options": options,
        "stream": bool(body.get("stream")),
    }
    if native_tools:
        native["tools"] = native_tools
    think = _think(body)
    if think is not None:
        native["think"] = think
    return native


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """``EstimateInputTokens``: a quarter of the characters of system, messages and tools (at least 1)."""
    total = _count_any(body.get("system"))
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            total += len(str(message.get("role") or "")) + _count_any(_blocks(message.get("content")))
    for tool in body.get("tools") or []:
        if isinstance(tool, Mapping):
            schema = tool.get("input_schema")
            schema_len = len(json.dumps(schema, separators=(",", ":"))) if schema is not None else 0
            total += len(str(tool.get("name") or "")) + len(str(tool.get("description") or "")) + schema_len
    tokens = total // 4
    return 1 if tokens == 0 and (body.get("messages") or body.get("system") is not None) else tokens


def _count_any(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content.encode())
    if isinstance(content, list):
        total = 0
        for block in content:
            if not isinstance(block, Mapping):
                continue
            total += len(str(block.get("text") or "").encode()) + len(
                str(block.get("thinking") or "").encode()
            )
            if block.get("type") in ("tool_use", "tool_result"):
                total += len(gojson.dumps(block))
        return total
    return len(gojson.dumps(content))


# --------------------------------------------------------------------------------------------------
# Response conversion (ToMessagesResponse, StreamConverter)


def _stop_reason(reason: str, tool_calls: bool) -> str:
    """``mapStopReason``."""
    if tool_calls:
        return "tool_use"
    if reason == "stop":
        return "end_turn"
    if reason == "length":
        return "max_tokens"
    return "stop_sequence" if reason else ""


def to_messages_response(message_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    message = event.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("thinking"):
        content.append({"type": "thinking", "thinking": message["thinking"]})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": function.get("arguments") or {},
            }
        )
    response: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": event.get("model", ""),
        "content": content or None,
    }
    reason = _stop_reason(str(event.get("done_reason") or ""), bool(message.get("tool_calls")))
    if reason:
        response["stop_reason"] = reason
    response["usage"] = {
        "input_tokens": int(event.get("prompt_eval_count") or 0),
        "output_tokens": int(event.get("eval_count") or 0),
    }
    return response


class StreamConverter:
    """``anthropic.StreamConverter``: native chat chunks to Anthropic stream events."""

    def __init__(self, message_id: str, model: str, estimated_input_tokens: int) -> None:
        self.id, self.model, self.estimate = message_id, model, estimated_input_tokens
        self.first = True
        self.index = 0
        self.thinking_started = self.thinking_done = self.text_started = False
        self.calls_sent: set[str] = set()

    def _stop(self) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": self.index}

    def _start(self, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {
            "type": "content_block_start",
            "index": self.index,
            "content_block": block,
        }

    def _delta(self, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta}

    def process(self, event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        message = event.get("message") or {}
        if self.first:
            self.first = False
            tokens = int(event.get("prompt_eval_count") or 0) or self.estimate
            start: dict[str, Any] = {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
            }
            start["usage"] = {"input_tokens": tokens, "output_tokens": 0}
            out.append(("message_start", {"type": "message_start", "message": start}))
        if message.get("thinking") and not self.thinking_done:
            if self.text_started:
                out.append(self._stop())
                self.index += 1
                self.text_started = False
            if not self.thinking_started:
                self.thinking_started = True
                out.append(self._start({"type": "thinking", "thinking": ""}))
            out.append(self._delta({"type": "thinking_delta", "thinking": message["thinking"]}))
        if message.get("content"):
            self._close_thinking(out)
            if not self.text_started:
                self.text_started = True
                out.append(self._start({"type": "text", "text": ""}))
            out.append(self._delta({"type": "text_delta", "text": message["content"]}))
        for call in message.get("tool_calls") or []:
            call_id = str(call.get("id") or "")
            if call_id in self.calls_sent:
                continue
            self._close_thinking(out)
            if self.text_started:
                out.append(self._stop())
                self.index += 1
                self.text_started = False
            function = call.get("function") or {}
            block = {"type": "tool_use", "id": call_id, "name": function.get("name", ""), "input": {}}
            out.append(self._start(block))
            arguments = gojson.dumps(function.get("arguments") or {}).decode()
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
            out.append(self._stop())
            self.calls_sent.add(call_id)
            self.index += 1
        if event.get("done"):
            if self.text_started or (self.thinking_started and not self.thinking_done):
                out.append(self._stop())
            reason = _stop_reason(str(event.get("done_reason") or ""), bool(self.calls_sent))
            delta = {"stop_reason": reason} if reason else {}
            usage = {
                "input_tokens": int(event.get("prompt_eval_count") or 0),
                "output_tokens": int(event.get("eval_count") or 0),
            }
            out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
            out.append(("message_stop", {"type": "message_stop"}))
        return out

    def _close_thinking(self, out: list[tuple[str, dict[str, Any]]]) -> None:
        if self.thinking_started and not self.thinking_done:
            self.thinking_done = True
            out.append(self._stop())
            self.index += 1


# --------------------------------------------------------------------------------------------------
# The route


async def _bind(request: Request) -> dict[str, Any]:
    return await read_json_body(
        request, fields=_FIELDS, struct="MessagesRequest", package="anthropic", empty_message="EOF"
    )


def _checked(body: Mapping[str, Any]) -> dict[str, Any]:
    """The middleware's checks, then the conversion; ``ValueError`` is its 400."""
    if not body.get("model"):
        raise ValueError("model is required")
    if int(body.get("max_tokens") or 0) <= 0:
        raise ValueError("max_tokens is required and must be positive")
    if not body.get("messages"):
        raise ValueError("messages is required")
    return from_messages_request(body)


async def _answer(request: Request, body: Mapping[str, Any], native: dict[str, Any]) -> Response:
    message_id = _id("msg")
    try:
        prepared = await prepare_chat(state_of(request), native, relax_thinking=True)
        if prepared.immediate is not None:
            return _json(to_messages_response(message_id, prepared.immediate))
        assert prepared.events is not None
        events = prepared.events
        if not prepared.stream:
            return _json(to_messages_response(message_id, reduce_chat([event async for event in events])))
        first = await anext(events, None)
    except ApiError as error:
        return _error(error.status, error.message)
    converter = StreamConverter(message_id, str(body.get("model") or ""), estimate_input_tokens(body))

    return sse_response(first, events, converter)


def _json(body: Any) -> Response:
    return Response(gojson.dumps_line(body), headers={"content-type": "application/json"})


async def messages(request: Request) -> Response:
    """``POST /v1/messages``."""
    try:
        body = await _bind(request)
    except ApiError as error:
        return _error(400, error.message, middleware=True)
    passthrough = cloud_passthrough(request, body)
    if passthrough is not None:
        return passthrough
    try:
        native = _checked(body)
    except ValueError as error:
        return _error(400, str(error), middleware=True)
    return await unless_disconnected(request, _answer(request, body, native))


def routes() -> list[BaseRoute]:
    return [Route("/v1/messages", messages, methods=["POST"])]
