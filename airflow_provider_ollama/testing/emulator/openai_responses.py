"""Ollama's ``POST /v1/responses`` (the OpenAI Responses API), following middleware/openai.go
(``ResponsesMiddleware``, ``ResponsesWriter``) and openai/responses.go.

The request becomes a native chat request (``FromResponsesRequest``) run by the same chat preparation
as ``/api/chat``. Without streaming the answer is one ``response`` object (``ToResponse``); with
``stream: true`` it is ``event: <type>`` / ``data: {...}`` server-sent events from
``ResponsesStreamConverter`` (``response.created``, ``response.in_progress``, reasoning, function-call
and output-text items, ``response.completed``), whose objects Go encodes from maps, so their keys come
sorted. Errors are OpenAI error objects as on the other ``/v1`` routes.

Not emulated: the built-in ``web_search`` tool's search loop through ollama.com, and zstd bodies.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.completion_routes import prepare_chat, reduce_chat
from airflow_provider_ollama.testing.emulator.inference_steps import state_of
from airflow_provider_ollama.testing.emulator.openai_routes import (
    BindError,
    decode_image_url,
    first_or_error,
    json_answer,
    run_openai,
    think_from_effort,
    to_tool_calls,
    writer_error,
)
from airflow_provider_ollama.testing.emulator.sse import sse_response

_FIELDS = {
    "model": "string",
    "background": "bool",
    "conversation": "json.RawMessage",
    "include": "[]string",
    "input": "interface {}",
    "instructions": "string",
    "max_output_tokens": "*int",
    "reasoning": "openai.ResponsesReasoning",
    "temperature": "*float64",
    "text": "*openai.ResponsesText",
    "top_p": "*float64",
    "truncation": "*string",
    "tools": "[]openai.ResponsesTool",
    "stream": "*bool",
}
_WEB_SEARCH_DESCRIPTION = "Search the web for current information."


# --------------------------------------------------------------------------------------------------
# Request conversion


def _content(content: Any) -> list[Mapping[str, Any]]:
    """``ResponsesInputMessage.UnmarshalJSON`` / ``unmarshalResponsesContent``."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise BindError(
            f"content must be a string or array: json: cannot unmarshal {_kind(content)} into Go value of type []json.RawMessage"
        )
    parts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in ("input_text", "input_image", "output_text", "input_file"):
            raise BindError(f"content[{index}]: unknown content type: {kind or ''}")
        parts.append(part)
    return parts


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, Mapping) else "string"


def _items(value: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """``ResponsesInput.UnmarshalJSON``: a string, or typed input items (``type`` or a ``role``)."""
    if value is None or isinstance(value, str):
        return []
    if not isinstance(value, list):
        raise BindError(
            f"input must be a string or array: json: cannot unmarshal {_kind(value)} into Go value of type []json.RawMessage"
        )
    items = []
    for index, item in enumerate(value):
        item = item if isinstance(item, Mapping) else {}
        kind = str(item.get("type") or ("message" if item.get("role") else ""))
        if kind not in ("message", "function_call", "function_call_output", "reasoning", "web_search_call"):
            problem = (
                "input item missing required 'type' field"
                if not kind
                else f"unknown input item type: {gojson.go_quote(kind)}"
            )
            raise BindError(f"input[{index}]: {problem}")
        try:
            if kind == "message":
                item = {**item, "content": _content(item.get("content"))}
            elif kind == "function_call_output" and isinstance(item.get("output"), list):
                item = {**item, "output_items": _content(item["output"])}
        except BindError as error:
            raise BindError(f"input[{index}]: {error}") from None
        items.append((kind, item))
    return items


def _text_and_images(parts: list[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """``convertResponsesContent``."""
    text, images = "", list[str]()
    for part in parts:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            text += str(part.get("text") or "")
        elif kind == "input_image" and part.get("image_url"):
            images.append(decode_image_url(str(part["image_url"])))
        elif kind == "input_file":
            raise BindError("file inputs are not currently supported")
    return text, images


def _message(role: str, text: str, images: list[str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": text}
    if images:
        message["images"] = images
    return message


def _tools(tool: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """``convertTools``: namespaces flatten into ``namespace.member`` functions."""
    if tool.get("type") == "namespace":
        name = str(tool.get("name") or "")
        return [
            converted
            for member in tool.get("tools") or []
            for converted in _tools(member, f"{name}." if name else "")
        ]
    name = str(tool.get("name") or "")
    if prefix and not name.startswith(prefix):
        name = prefix + name
    function = {
        "name": name,
        "description": str(tool.get("description") or ""),
        "parameters": tool.get("parameters") or {},
    }
    return [{"type": str(tool.get("type") or ""), "function": function}]


def _merged(messages: list[dict[str, Any]], message: dict[str, Any], answered: str) -> bool:
    """An assistant message replayed between a call and its output joins the calling message."""
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        return False
    if not any(call.get("id") == answered for call in last.get("tool_calls") or []):
        return False
    if last["content"] and message["content"]:
        last["content"] += "\n"
    last["content"] += message["content"]
    images = [*last.get("images", []), *message.get("images", [])]
    if images:
        last["images"] = images
    if message.get("thinking"):
        last["thinking"] = message["thinking"]
    return True


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def from_responses_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``FromResponsesRequest``."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    if isinstance(body.get("input"), str) and body["input"]:
        messages.append({"role": "user", "content": body["input"]})
    items = _items(body.get("input"))
    pending = ""
    for index, (kind, item) in enumerate(items):
        if kind == "reasoning":
            pending = str(item.get("encrypted_content") or "")
        elif kind == "message":
            message = _message(str(item.get("role") or ""), *_text_and_images(item["content"]))
            if message["role"] == "assistant" and pending:
                message["thinking"], pending = pending, ""
            following = items[index + 1] if index + 1 < len(items) else None
            answered = (
                following[1].get("call_id") if following and following[0] == "function_call_output" else ""
            )
            if message["role"] == "assistant" and answered and _merged(messages, message, str(answered)):
                continue
            messages.append(message)
        elif kind == "function_call":
            raw = str(item.get("arguments") or "")
            try:
                arguments = gojson.loads_request(raw.encode()) if raw else {}
            except (EOFError, gojson.GoJSONError) as error:
                raise BindError(f"failed to parse function call arguments: {error}") from None
            call = {
                "id": str(item.get("call_id") or ""),
                "function": {"name": str(item.get("name") or ""), "arguments": arguments},
            }
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
                if pending:
                    messages[-1]["thinking"], pending = pending, ""
            else:
                message = {"role": "assistant", "content": "", "tool_calls": [call]}
                if pending:
                    message["thinking"], pending = pending, ""
                messages.append(message)
        elif kind == "function_call_output":
            output = item.get("output")
            text, images = (output if isinstance(output, str) else ""), list[str]()
            if item.get("output_items"):
                text, images = _text_and_images(item["output_items"])
            tool_message = _message("tool", text, images)
            tool_message["tool_call_id"] = str(item.get("call_id") or "")
            messages.append(tool_message)
    if pending:
        messages.append({"role": "assistant", "content": "", "thinking": pending})
    options: dict[str, Any] = {
        "temperature": body["temperature"] if body.get("temperature") is not None else 1.0
    }
    if body.get("top_p") is not None:
        options["top_p"] = body["top_p"]
    if body.get("max_output_tokens") is not None:
        options["num_predict"] = body["max_output_tokens"]
    reasoning = _mapping(body.get("reasoning"))
    native: dict[str, Any] = {"model": body.get("model"), "messages": messages, "options": options}
    think = think_from_effort(str(reasoning.get("effort") or ""))
    if think is not None:
        native["think"] = think
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, Mapping)]
    web_search = any(tool.get("type") == "web_search" for tool in tools)
    native_tools: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type") == "web_search":
            native_tools.append(
                {
                    "type": "function",
                    "function": {"name": "web_search", "description": _WEB_SEARCH_DESCRIPTION},
                }
            )
            continue
        native_tools += [
            t for t in _tools(tool) if not (web_search and t["function"]["name"] == "web_search")
        ]
    if native_tools:
        native["tools"] = native_tools
    text_format = _mapping(_mapping(body.get("text")).get("format"))
    if text_format.get("type") == "json_schema" and text_format.get("schema") is not None:
        native["format"] = text_format["schema"]
    native["stream"] = body.get("stream") is True
    return native


# --------------------------------------------------------------------------------------------------
# Response conversion


def _text_format(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's ``text.format`` (only the fields it sets), or ``{"type": "text"}``."""
    given = _mapping(_mapping(body.get("text")).get("format"))
    if not given:
        return {"type": "text"}
    document = {"type": str(given.get("type") or "")}
    for key in ("name", "schema", "strict"):
        if given.get(key) not in (None, ""):
            document[key] = given[key]
    return document


def _tool_documents(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    documents = []
    for tool in body.get("tools") or []:
        document = {key: tool.get(key) for key in ("type", "name", "description", "strict", "parameters")}
        document["type"], document["name"] = str(document["type"] or ""), str(document["name"] or "")
        documents.append(document)
    return documents


def _reasoning(body: Mapping[str, Any]) -> dict[str, Any] | None:
    reasoning = _mapping(body.get("reasoning"))
    effort, summary = reasoning.get("effort") or None, reasoning.get("summary") or None
    if effort is None and summary is None:
        return None
    return {"effort": effort, "summary": summary}


def _response_object(
    body: Mapping[str, Any], response_id: str, created: int, status: str, output: list[Any], usage: Any
) -> dict[str, Any]:
    """``ToResponse`` / ``buildResponseObject``: the fields every response object carries."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "completed_at": None,
        "status": status,
        "incomplete_details": None,
        "model": body.get("model", ""),
        "previous_response_id": None,
        "instructions": body.get("instructions") or None,
        "output": output,
        "error": None,
        "tools": _tool_documents(body),
        "tool_choice": "auto",
        "truncation": body.get("truncation") or "disabled",
        "parallel_tool_calls": True,
        "text": {"format": _text_format(body)},
        "top_p": body["top_p"] if body.get("top_p") is not None else 1.0,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "temperature": body["temperature"] if body.get("temperature") is not None else 1.0,
        "reasoning": _reasoning(body),
        "usage": usage,
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "store": False,
        "background": bool(body.get("background")),
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


def _usage(event: Mapping[str, Any]) -> dict[str, Any]:
    prompt, generated = int(event.get("prompt_eval_count") or 0), int(event.get("eval_count") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": generated,
        "total_tokens": prompt + generated,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_text_part(text)],
    }


def _call_item(item_id: str, call: Mapping[str, Any], status: str = "completed") -> dict[str, Any]:
    function = call["function"]
    arguments = function["arguments"] if status == "completed" else ""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call["id"],
        "name": function["name"],
        "arguments": arguments,
    }


def to_response(
    body: Mapping[str, Any], response_id: str, item_id: str, event: Mapping[str, Any]
) -> dict[str, Any]:
    """``ToResponse`` plus the writer's ``completed_at``."""
    message = event.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("thinking"):
        summary = [{"type": "summary_text", "text": message["thinking"]}]
        output.append(
            {
                "id": f"rs_{response_id}",
                "type": "reasoning",
                "summary": summary,
                "encrypted_content": message["thinking"],
            }
        )
    calls = to_tool_calls(message.get("tool_calls") or [])
    for index, call in enumerate(calls):
        output.append(_call_item(f"fc_{response_id}_{index}", call))
    if not calls:
        output.append(_message_item(item_id, str(message.get("content") or "")))
    response = _response_object(body, response_id, _unix(event), "completed", output, _usage(event))
    response["completed_at"] = int(time.time())
    return response


def _unix(event: Mapping[str, Any]) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(event.get("created_at")).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(time.time())


class ResponsesStream:
    """``ResponsesStreamConverter``: native chat chunks to Responses stream events."""

    def __init__(self, body: Mapping[str, Any], response_id: str, item_id: str) -> None:
        self.body, self.response_id, self.item_id = body, response_id, item_id
        self.first, self.sequence = True, 0
        self.output_index = 0
        self.content_started = self.calls_sent = self.reasoning_started = False
        self.text = self.thinking = self.reasoning_id = ""
        self.completed: list[dict[str, Any]] = []

    def _event(self, kind: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        data = {**data, "type": kind, "sequence_number": self.sequence}
        self.sequence += 1
        return kind, gojson.sorted_map(data)

    def _object(self, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
        return _response_object(self.body, self.response_id, int(time.time()), status, output, usage)

    def process(self, event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        message = event.get("message") or {}
        if self.first:
            self.first = False
            for kind in ("response.created", "response.in_progress"):
                out.append(self._event(kind, {"response": self._object("in_progress", [], None)}))
        if message.get("thinking"):
            out += self._thinking(str(message["thinking"]))
        if message.get("tool_calls"):
            out += self._finish_reasoning() + self._calls(message["tool_calls"])
            self.calls_sent = True
        elif not self.calls_sent and message.get("content"):
            out += self._text(str(message["content"]))
        if event.get("done"):
            out += self._complete(event)
        return out

    def _thinking(self, thinking: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        if not self.reasoning_started:
            self.reasoning_started = True
            self.reasoning_id = f"rs_{random.randrange(999999)}"  # noqa: S311 - Go's rand.Intn
            item = {"id": self.reasoning_id, "type": "reasoning", "summary": []}
            out.append(
                self._event("response.output_item.added", {"output_index": self.output_index, "item": item})
            )
        self.thinking += thinking
        delta = {
            "item_id": self.reasoning_id,
            "output_index": self.output_index,
            "summary_index": 0,
            "delta": thinking,
        }
        out.append(self._event("response.reasoning_summary_text.delta", delta))
        return out

    def _finish_reasoning(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.reasoning_started:
            return []
        summary = [{"type": "summary_text", "text": self.thinking}]
        item = {
            "id": self.reasoning_id,
            "type": "reasoning",
            "summary": summary,
            "encrypted_content": self.thinking,
        }
        self.completed.append(item)
        index, text, item_id = self.output_index, self.thinking, self.reasoning_id
        self.thinking = self.reasoning_id = ""
        self.reasoning_started = False
        self.output_index += 1
        return [
            self._event(
                "response.reasoning_summary_text.done",
                {"item_id": item_id, "output_index": index, "summary_index": 0, "text": text},
            ),
            self._event("response.output_item.done", {"output_index": index, "item": item}),
        ]

    def _calls(self, calls: list[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        converted = to_tool_calls(calls)
        for offset, call in enumerate(converted):
            index = self.output_index + offset
            item_id = f"fc_{random.randrange(999999)}_{offset}"  # noqa: S311 - Go's rand.Intn
            done = _call_item(item_id, call)
            self.completed.append(done)
            arguments = call["function"]["arguments"]
            out += [
                self._event(
                    "response.output_item.added",
                    {"output_index": index, "item": _call_item(item_id, call, "in_progress")},
                ),
                self._event(
                    "response.function_call_arguments.delta",
                    {"item_id": item_id, "output_index": index, "delta": arguments},
                ),
                self._event(
                    "response.function_call_arguments.done",
                    {"item_id": item_id, "output_index": index, "arguments": arguments},
                ),
                self._event("response.output_item.done", {"output_index": index, "item": done}),
            ]
        self.output_index += len(converted)
        return out

    def _text(self, content: str) -> list[tuple[str, dict[str, Any]]]:
        out = self._finish_reasoning()
        if not self.content_started:
            self.content_started = True
            item = {
                "id": self.item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out.append(
                self._event("response.output_item.added", {"output_index": self.output_index, "item": item})
            )
            part = {**self._text_position(), "part": _text_part("")}
            out.append(self._event("response.content_part.added", part))
        self.text += content
        delta = {**self._text_position(), "delta": content, "logprobs": []}
        out.append(self._event("response.output_text.delta", delta))
        return out

    def _text_position(self) -> dict[str, Any]:
        """Where the message's text goes, as its text events name it: item, output index, content part."""
        return {"item_id": self.item_id, "output_index": self.output_index, "content_index": 0}

    def _complete(self, event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = self._finish_reasoning()
        where = self._text_position()
        if not self.calls_sent and self.content_started:
            out.append(self._event("response.output_text.done", {**where, "text": self.text, "logprobs": []}))
            out.append(self._event("response.content_part.done", {**where, "part": _text_part(self.text)}))
            item = _message_item(self.item_id, self.text)
            out.append(
                self._event("response.output_item.done", {"output_index": self.output_index, "item": item})
            )
        output: list[Any] = list(self.completed)
        if self.content_started:
            output.append(_message_item(self.item_id, self.text))
        response = self._object("completed", output, _usage(event))
        response["completed_at"] = int(time.time())
        out.append(self._event("response.completed", {"response": response}))
        return out


async def _answer(native: dict[str, Any], request: Request) -> Response:
    body = native.pop("_openai")
    response_id = f"resp_{random.randrange(999999)}"  # noqa: S311 - Go's rand.Intn
    item_id = f"msg_{random.randrange(999999)}"  # noqa: S311
    prepared = await prepare_chat(state_of(request), native)
    if prepared.immediate is not None:
        return json_answer(to_response(body, response_id, item_id, prepared.immediate))
    assert prepared.events is not None
    events = prepared.events
    if not prepared.stream:
        return json_answer(to_response(body, response_id, item_id, reduce_chat([e async for e in events])))
    first, error = await first_or_error(events)
    if error is not None:
        return writer_error(error)
    converter = ResponsesStream(body, response_id, item_id)

    return sse_response(first, events, converter)


async def responses(request: Request) -> Response:
    """``POST /v1/responses``."""
    return await run_openai(
        request, from_responses_request, _FIELDS, "ResponsesRequest", lambda native: _answer(native, request)
    )


def routes() -> list[BaseRoute]:
    return [Route("/v1/responses", responses, methods=["POST"])]
