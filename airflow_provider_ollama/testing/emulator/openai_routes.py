"""Ollama's OpenAI-compatible routes under ``/v1``, following middleware/openai.go and openai/openai.go.

Each route converts the OpenAI request into the native one (``FromChatRequest``,
``FromCompleteRequest``...), runs the same preparation as the native handler, and converts every
native answer as Ollama's response writers do: chunks as ``data: {...}`` server-sent events ending
in ``data: [DONE]``, single answers as JSON, and any non-200 answer as an OpenAI error object
(``{"error": {"message", "type", "param", "code"}}``) with the native status.
"""

from __future__ import annotations

import base64
import binascii
import random
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.completion_routes import (
    Prepared,
    prepare_chat,
    prepare_generate,
    reduce_chat,
    reduce_generate,
)
from airflow_provider_ollama.testing.emulator.embed_routes import prepare_embed
from airflow_provider_ollama.testing.emulator.http import ApiError, read_json_body
from airflow_provider_ollama.testing.emulator.inference_steps import (
    cloud_unavailable,
    parse_model_ref,
    state_of,
    unless_disconnected,
)

JSON_PLAIN = "application/json"
EVENT_STREAM = "text/event-stream"
_CHAT_FIELDS = {
    "model": "string",
    "messages": "[]openai.Message",
    "stream": "bool",
    "stream_options": "*openai.StreamOptions",
    "max_tokens": "*int",
    "seed": "*int",
    "stop": "interface {}",
    "temperature": "*float64",
    "frequency_penalty": "*float64",
    "presence_penalty": "*float64",
    "top_p": "*float64",
    "response_format": "*openai.ResponseFormat",
    "tools": "[]api.Tool",
    "reasoning": "*openai.Reasoning",
    "reasoning_effort": "*string",
    "logprobs": "*bool",
    "top_logprobs": "int",
    "_debug_render_only": "bool",
}
_COMPLETION_FIELDS = {
    "model": "string",
    "prompt": "string",
    "frequency_penalty": "float32",
    "max_tokens": "*int",
    "presence_penalty": "float32",
    "seed": "*int",
    "stop": "interface {}",
    "stream": "bool",
    "stream_options": "*openai.StreamOptions",
    "temperature": "*float32",
    "top_p": "float32",
    "suffix": "string",
    "logprobs": "*int",
    "_debug_render_only": "bool",
}
_EMBED_FIELDS = {"input": "interface {}", "model": "string", "dimensions": "int", "encoding_format": "string"}
_IMAGE_PREFIXES = tuple(f"data:image/{kind};base64," for kind in ("jpeg", "jpg", "png", "webp"))
_THINK_BY_EFFORT: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


# --------------------------------------------------------------------------------------------------
# Errors and writing


def openai_error(status: int, message: str) -> dict[str, Any]:
    """``openai.NewError``: the error object with the type the status implies."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def json_answer(body: Any, status: int = 200, content_type: str = JSON_PLAIN) -> Response:
    """A body written by ``json.NewEncoder`` (a trailing newline)."""
    return Response(gojson.dumps_line(body), status_code=status, headers={"content-type": content_type})


def _middleware_error(status: int, message: str) -> Response:
    """``c.AbortWithStatusJSON(status, openai.NewError(...))`` in a middleware: gin's JSON type."""
    return Response(
        gojson.dumps(openai_error(status, message)),
        status_code=status,
        headers={"content-type": "application/json; charset=utf-8"},
    )


def writer_error(error: ApiError) -> Response:
    """``BaseWriter.writeError``: the native error with its status, as an OpenAI error object."""
    return json_answer(openai_error(error.status, error.message), error.status)


async def _bind(request: Request, fields: Mapping[str, str], struct: str) -> dict[str, Any]:
    """gin's ``ShouldBindJSON`` into an ``openai`` struct: an empty body is ``EOF``."""
    try:
        return await read_json_body(
            request, fields=fields, struct=struct, package="openai", empty_message="EOF"
        )
    except ApiError as error:
        raise BindError(error.message) from None


class BindError(Exception):
    """A request the middleware refuses before the native handler runs (400)."""


def _model_of(body: Mapping[str, Any]) -> str:
    return str(body.get("model") or "")


def cloud_passthrough(request: Request, body: Mapping[str, Any]) -> Response | None:
    """``cloudPassthroughMiddleware``: a ``:cloud`` model goes to ollama.com, unreachable offline."""
    try:
        ref = parse_model_ref(_model_of(body))
        ModelName.parse(ref.base)
    except Exception:
        return None
    if ref.source != "cloud":
        return None
    error = cloud_unavailable(state_of(request).settings, request.url.path)
    return Response(
        gojson.dumps({"error": error.message}),
        status_code=error.status,
        headers={"content-type": "application/json; charset=utf-8"},
    )


async def run_openai(
    request: Request,
    middleware: Callable[[dict[str, Any]], dict[str, Any]],
    fields: Mapping[str, str],
    struct: str,
    handler: Callable[[dict[str, Any]], Awaitable[Response]],
) -> Response:
    try:
        openai_body = await _bind(request, fields, struct)
        native = middleware(openai_body)
    except BindError as error:
        return _middleware_error(400, str(error))
    passthrough = cloud_passthrough(request, openai_body)
    if passthrough is not None:
        return passthrough

    async def respond() -> Response:
        try:
            return await handler(native | {"_openai": openai_body})
        except ApiError as error:
            return writer_error(error)

    return await unless_disconnected(request, respond())


def _sse(data: Any) -> bytes:
    return b"data: " + gojson.dumps(data) + b"\n\n"


async def first_or_error(
    events: AsyncIterator[dict[str, Any]],
) -> tuple[dict[str, Any] | None, ApiError | None]:
    try:
        return await anext(events), None
    except StopAsyncIteration:
        return None, None
    except ApiError as error:
        return None, error


async def _collect(events: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drain the native events (``stream: false``); an error anywhere is the whole answer."""
    return [event async for event in events]


def _created(event: Mapping[str, Any]) -> int:
    stamp = str(event.get("created_at") or "")
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(time.time())


# --------------------------------------------------------------------------------------------------
# /v1/chat/completions


def from_chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``FromChatRequest``: the native chat request for an OpenAI chat completion request."""
    raw_messages = body.get("messages") or []
    if not raw_messages:
        raise BindError("[] is too short - 'messages'")
    messages: list[dict[str, Any]] = []
    for message in raw_messages:
        if not isinstance(message, dict):
            raise BindError(
                "json: cannot unmarshal array into Go struct field ChatCompletionRequest.messages of type openai.Message"
            )
        messages.extend(_native_messages(message, raw_messages))
    options: dict[str, Any] = {}
    stop = body.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        options["stop"] = [item for item in stop if isinstance(item, str)] or None
    if body.get("max_tokens") is not None:
        options["num_predict"] = body["max_tokens"]
    options["temperature"] = body["temperature"] if body.get("temperature") is not None else 1.0
    for key in ("seed", "frequency_penalty", "presence_penalty"):
        if body.get(key) is not None:
            options[key] = body[key]
    options["top_p"] = body["top_p"] if body.get("top_p") is not None else 1.0
    native: dict[str, Any] = {
        "model": _model_of(body),
        "messages": messages,
        "options": {key: value for key, value in options.items() if value is not None},
        "stream": bool(body.get("stream")),
    }
    format_value = _response_format(body.get("response_format"))
    if format_value is not None:
        native["format"] = format_value
    if body.get("tools"):
        native["tools"] = body["tools"]
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else body.get("reasoning_effort")
    think = think_from_effort(str(effort or ""))
    if think is not None:
        native["think"] = think
    if body.get("logprobs"):
        native["logprobs"] = True
    if body.get("top_logprobs"):
        native["top_logprobs"] = body["top_logprobs"]
    if body.get("_debug_render_only"):
        native["_debug_render_only"] = True
    return native


def think_from_effort(effort: str) -> bool | str | None:
    """``thinkFromReasoningEffort``: OpenAI's scale clamped onto Ollama's think levels."""
    if not effort:
        return None
    if effort not in _THINK_BY_EFFORT:
        raise BindError(
            f'invalid reasoning value: {gojson.go_quote(effort)} (must be "minimal", "low", "medium", '
            '"high", "xhigh", "ultra", "max", or "none")'
        )
    return _THINK_BY_EFFORT[effort]


def _response_format(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    kind = str(value.get("type") or "").strip().lower()
    if kind == "json_object":
        return "json"
    if kind == "json_schema" and isinstance(value.get("json_schema"), dict):
        return value["json_schema"].get("schema")
    return None


def _native_messages(message: Mapping[str, Any], everything: list[Any]) -> list[dict[str, Any]]:
    role = str(message.get("role") or "")
    tool_name = ""
    if role.lower() == "tool":
        tool_name = str(message.get("name") or "")
        if not tool_name and message.get("tool_call_id"):
            tool_name = _name_from_call_id(everything, str(message["tool_call_id"]))
    content = message.get("content")
    calls = message.get("tool_calls")
    reasoning = str(message.get("reasoning") or "")
    call_id = str(message.get("tool_call_id") or "")
    if isinstance(content, str):
        return [
            _message(role, content, reasoning, _native_calls(calls), tool_name, call_id),
        ]
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for part in content:
            if not isinstance(part, dict):
                raise BindError("invalid message format")
            parts.append(_content_part(role, part))
        if parts and calls:
            parts[-1].update(
                {
                    key: value
                    for key, value in _message(
                        role, "", reasoning, _native_calls(calls), tool_name, call_id
                    ).items()
                    if key in ("tool_calls", "tool_name", "tool_call_id", "thinking")
                }
            )
        return parts
    if calls is None:
        raise BindError(f"invalid message content type: {_go_type(content)}")
    return [_message(role, "", reasoning, _native_calls(calls), "", call_id)]


def _message(
    role: str, content: str, thinking: str, calls: list[dict[str, Any]], tool_name: str, call_id: str
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    if tool_name:
        message["tool_name"] = tool_name
    if call_id:
        message["tool_call_id"] = call_id
    return message


def _go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    return "map[string]interface {}"


def _content_part(role: str, part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise BindError("invalid message format")
        return {"role": role, "content": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise BindError("invalid message format")
        return {"role": role, "content": "", "images": [decode_image_url(url)]}
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise BindError("invalid input_audio format")
        data = audio.get("data")
        if not isinstance(data, str):
            raise BindError("invalid input_audio format: missing data")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise BindError(f"invalid input_audio base64 data: {error}") from None
        return {"role": role, "content": "", "images": [data]}
    raise BindError("invalid message format")


def decode_image_url(url: str) -> str:
    """``decodeImageURL``: a base64 data URL (or bare ``data:;base64,``) to the image's base64."""
    if url.startswith(("http://", "https://")):
        raise BindError("image URLs are not currently supported, please use base64 encoded data instead")
    if url.startswith("data:;base64,"):
        data = url.removeprefix("data:;base64,")
    else:
        prefix = next((prefix for prefix in _IMAGE_PREFIXES if url.startswith(prefix)), None)
        if prefix is None:
            raise BindError("invalid image input")
        data = url.removeprefix(prefix)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BindError("invalid image input") from None
    return data


def _native_calls(calls: Any) -> list[dict[str, Any]]:
    """``FromCompletionToolCall``: arguments arrive as a JSON string and must parse."""
    import json

    native = []
    for call in calls or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        try:
            arguments = json.loads(str(function.get("arguments") or ""))
        except ValueError:
            raise BindError("invalid tool call arguments") from None
        entry: dict[str, Any] = {
            "function": {"index": 0, "name": str(function.get("name") or ""), "arguments": arguments}
        }
        if call.get("id"):
            entry = {"id": call["id"], **entry}
        native.append(entry)
    return native


def _name_from_call_id(messages: list[Any], call_id: str) -> str:
    for message in reversed(messages):
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            if isinstance(call, dict) and call.get("id") == call_id:
                return str((call.get("function") or {}).get("name") or "")
    return ""


def to_tool_calls(calls: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``ToToolCalls``: OpenAI tool calls with their arguments as a JSON string."""
    converted = []
    for call in calls:
        function = call.get("function") or {}
        converted.append(
            {
                "id": str(call.get("id") or ""),
                "index": int(function.get("index") or 0),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": gojson.dumps(function.get("arguments") or {}).decode(),
                },
            }
        )
    return converted


def _usage(event: Mapping[str, Any]) -> dict[str, int]:
    prompt = int(event.get("prompt_eval_count") or 0)
    completion = int(event.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(reason: str, tool_calls: bool) -> str | None:
    if reason == "stop" and tool_calls:
        return "tool_calls"
    return reason or None


def to_chat_completion(completion_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """``ToChatCompletion``: one native answer as a ``chat.completion``."""
    message = event.get("message") or {}
    calls = to_tool_calls(message.get("tool_calls") or [])
    out_message: dict[str, Any] = {"role": message.get("role", ""), "content": message.get("content", "")}
    if message.get("thinking"):
        out_message["reasoning"] = message["thinking"]
    if calls:
        out_message["tool_calls"] = calls
    choice: dict[str, Any] = {
        "index": 0,
        "message": out_message,
        "finish_reason": _finish(str(event.get("done_reason") or ""), bool(calls)),
    }
    if event.get("logprobs"):
        choice["logprobs"] = {"content": event["logprobs"]}
    completion: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": _created(event),
        "model": event.get("model", ""),
        "system_fingerprint": "fp_ollama",
        "choices": [choice],
        "usage": _usage(event),
    }
    if event.get("_debug_info"):
        completion["_debug_info"] = event["_debug_info"]
    return completion


class _ChatStream:
    """``ChatWriter`` while streaming: role on the first chunk, thinking split from content, a finish
    chunk, usage when asked, then ``[DONE]``."""

    def __init__(self, completion_id: str, include_usage: bool) -> None:
        self.id = completion_id
        self.include_usage = include_usage
        self.first_sent = False
        self.tool_call_sent = False
        self.created: int | None = None

    def chunk(
        self, event: Mapping[str, Any], include_role: bool, *, content: bool = True, thinking: bool = True
    ) -> dict[str, Any]:
        message = event.get("message") or {}
        delta: dict[str, Any] = {}
        if include_role:
            delta["role"] = "assistant"
        if content:
            delta["content"] = message.get("content", "")
        if thinking and message.get("thinking"):
            delta["reasoning"] = message["thinking"]
        calls = to_tool_calls(message.get("tool_calls") or []) if content else []
        if calls:
            delta["tool_calls"] = calls
            self.tool_call_sent = True
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        if thinking and event.get("logprobs"):
            choice["logprobs"] = {"content": event["logprobs"]}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": event.get("model", ""),
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
        }

    def write(self, event: Mapping[str, Any]) -> list[bytes]:
        if self.created is None:
            self.created = _created(event) if event.get("created_at") else int(time.time())
        message = event.get("message") or {}
        lines: list[bytes] = []
        empty_trailer = (
            event.get("done")
            and self.first_sent
            and not message.get("content")
            and not message.get("thinking")
            and not message.get("tool_calls")
            and not event.get("logprobs")
        )
        if not empty_trailer:
            mixed = bool(message.get("thinking")) and bool(
                message.get("content") or message.get("tool_calls")
            )
            if mixed:
                lines.append(_sse(self.chunk(event, not self.first_sent, content=False)))
                lines.append(_sse(self.chunk(event, False, thinking=False)))
            else:
                lines.append(_sse(self.chunk(event, not self.first_sent)))
            self.first_sent = True
        if event.get("done"):
            reason = str(event.get("done_reason") or "stop")
            if reason == "stop" and self.tool_call_sent:
                reason = "tool_calls"
            finish = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": event.get("model", ""),
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
            }
            lines.append(_sse(finish))
            if self.include_usage:
                lines.append(_sse({**finish, "choices": [], "usage": _usage(event)}))
            lines.append(b"data: [DONE]\n\n")
        return lines


async def _stream(prepared: Prepared, write: Callable[[dict[str, Any]], list[bytes]]) -> Response:
    """Stream native events as server-sent events; an error before the first is the whole answer."""
    assert prepared.events is not None
    events = prepared.events
    first, error = await first_or_error(events)
    if error is not None:
        return writer_error(error)

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                for line in write(first):
                    yield line
            try:
                async for event in events:
                    for line in write(event):
                        yield line
            except ApiError as error:
                # Ollama's writer reads the native {"error": ...} line as an empty response.
                for line in write({"error": error.message}):
                    yield line
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    return StreamingResponse(body(), headers={"content-type": EVENT_STREAM})


async def _write(
    prepared: Prepared,
    openai_body: Mapping[str, Any],
    completion_id: str,
    convert: Callable[[str, Mapping[str, Any]], dict[str, Any]],
    reduce: Callable[[list[dict[str, Any]]], dict[str, Any]],
    stream_writer: Callable[[str, bool], Any],
) -> Response:
    """Answer a prepared native request the way an OpenAI response writer does."""
    if prepared.immediate is not None:
        return json_answer(convert(completion_id, prepared.immediate))
    if not prepared.stream:
        assert prepared.events is not None
        return json_answer(convert(completion_id, reduce(await _collect(prepared.events))))
    options = openai_body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    return await _stream(prepared, stream_writer(completion_id, include_usage).write)


async def _chat_handler(native: dict[str, Any], request: Request) -> Response:
    openai_body = native.pop("_openai")
    prepared = await prepare_chat(state_of(request), native)
    completion_id = f"chatcmpl-{random.randrange(999)}"  # noqa: S311 - Ollama's rand.Intn(999)
    return await _write(prepared, openai_body, completion_id, to_chat_completion, reduce_chat, _ChatStream)


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    return await run_openai(
        request,
        from_chat_request,
        {**_CHAT_FIELDS},
        "ChatCompletionRequest",
        lambda body: _chat_handler(body, request),
    )


# --------------------------------------------------------------------------------------------------
# /v1/completions


def from_complete_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``FromCompleteRequest``: the native generate request for an OpenAI completion request."""
    options: dict[str, Any] = {}
    stop = body.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        for item in stop:
            if not isinstance(item, str):
                raise BindError(
                    f"invalid type for 'stop' field: {_go_type(item) if not isinstance(item, list | dict) else ('[]interface {}' if isinstance(item, list) else 'map[string]interface {}')}"
                )
        options["stop"] = list(stop)
    if body.get("max_tokens") is not None:
        options["num_predict"] = body["max_tokens"]
    options["temperature"] = body["temperature"] if body.get("temperature") is not None else 1.0
    if body.get("seed") is not None:
        options["seed"] = body["seed"]
    options["frequency_penalty"] = body.get("frequency_penalty") or 0
    options["presence_penalty"] = body.get("presence_penalty") or 0
    options["top_p"] = body.get("top_p") or 1.0
    native: dict[str, Any] = {
        "model": _model_of(body),
        "prompt": str(body.get("prompt") or ""),
        "options": options,
        "stream": bool(body.get("stream")),
    }
    if body.get("suffix"):
        native["suffix"] = body["suffix"]
    logprobs = body.get("logprobs")
    if isinstance(logprobs, int | float) and logprobs > 0:
        native["logprobs"] = True
        native["top_logprobs"] = int(logprobs)
    if body.get("_debug_render_only"):
        native["_debug_render_only"] = True
    return native


def _completion_choice(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": event.get("response", ""), "index": 0, "finish_reason": event.get("done_reason") or None}


def to_completion(completion_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """``ToCompletion``: one native generate answer as a ``text_completion``."""
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": _created(event),
        "model": event.get("model", ""),
        "system_fingerprint": "fp_ollama",
        "choices": [_completion_choice(event)],
        "usage": _usage(event),
    }


class _CompletionStream:
    """``CompleteWriter`` while streaming (usage zeroed on every chunk when asked, then a usage chunk)."""

    def __init__(self, completion_id: str, include_usage: bool) -> None:
        self.id = completion_id
        self.include_usage = include_usage

    def write(self, event: Mapping[str, Any]) -> list[bytes]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": int(time.time()),
            "choices": [_completion_choice(event)],
            "model": event.get("model", ""),
            "system_fingerprint": "fp_ollama",
        }
        if self.include_usage:
            chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        lines = [_sse(chunk)]
        if event.get("done"):
            if self.include_usage:
                lines.append(_sse({**chunk, "choices": [], "usage": _usage(event)}))
            lines.append(b"data: [DONE]\n\n")
        return lines


async def _completion_handler(native: dict[str, Any], request: Request) -> Response:
    openai_body = native.pop("_openai")
    prepared = await prepare_generate(state_of(request), native)
    completion_id = f"cmpl-{random.randrange(999)}"  # noqa: S311 - Ollama's rand.Intn(999)
    return await _write(
        prepared, openai_body, completion_id, to_completion, reduce_generate, _CompletionStream
    )


async def completions(request: Request) -> Response:
    """``POST /v1/completions``."""
    return await run_openai(
        request,
        from_complete_request,
        _COMPLETION_FIELDS,
        "CompletionRequest",
        lambda body: _completion_handler(body, request),
    )


# --------------------------------------------------------------------------------------------------
# /v1/embeddings


def from_embed_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``EmbeddingsMiddleware``: check ``encoding_format`` and ``input``, pass model, input, dimensions."""
    encoding = str(body.get("encoding_format") or "")
    if encoding and encoding.lower() not in ("float", "base64"):
        raise BindError(
            f"Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64']."
        )
    value = body.get("input")
    if value == "":
        value = [""]
    if value is None or value == []:
        raise BindError("invalid input")
    native: dict[str, Any] = {"model": _model_of(body), "input": value}
    if body.get("dimensions"):
        native["dimensions"] = body["dimensions"]
    return native


def _float32_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def to_embedding_list(model: str, answer: Mapping[str, Any], encoding: str) -> dict[str, Any]:
    """``ToEmbeddingList``: the vectors (or their float32 bytes in base64) and the usage."""
    data = [
        {
            "object": "embedding",
            "embedding": _float32_base64(vector) if encoding.lower() == "base64" else vector,
            "index": index,
        }
        for index, vector in enumerate(answer.get("embeddings") or [])
    ]
    tokens = int(answer.get("prompt_eval_count") or 0)
    return {
        "object": "list",
        "data": data or None,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def _embed_handler(native: dict[str, Any], request: Request) -> Response:
    openai_body = native.pop("_openai")
    answer = await prepare_embed(state_of(request), native)
    return json_answer(
        to_embedding_list(_model_of(openai_body), answer, str(openai_body.get("encoding_format") or ""))
    )


async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``."""
    return await run_openai(
        request, from_embed_request, _EMBED_FIELDS, "EmbedRequest", lambda body: _embed_handler(body, request)
    )


# --------------------------------------------------------------------------------------------------
# /v1/models


def _owner(name: str) -> str:
    """``model.ParseName(id).Namespace`` (empty for a name that does not parse)."""
    try:
        return ModelName.parse(name).namespace
    except InvalidModelNameError:
        return ""


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: ``/api/tags`` as an OpenAI model list."""
    from airflow_provider_ollama.testing.emulator import catalog
    from airflow_provider_ollama.testing.emulator.show import list_entry

    entries = [list_entry(summary) for summary in catalog.list_summaries(request.app.state.emulator.store)]
    entries.sort(key=lambda entry: (-_created({"created_at": entry["modified_at"]}), entry["name"]))
    data = [
        {
            "id": entry["model"] or entry["name"],
            "object": "model",
            "created": _created({"created_at": entry["modified_at"]}),
            "owned_by": _owner(entry["model"] or entry["name"]),
        }
        for entry in entries
    ]
    return json_answer({"object": "list", "data": data or None})


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``: ``/api/show`` for that name, as an OpenAI model."""
    from airflow_provider_ollama.testing.emulator.store_routes import show_model

    name = str(request.path_params["model"])
    try:
        ref = parse_model_ref(name)
        if ref.source == "cloud":
            error = cloud_unavailable(
                state_of(request).settings, f"/v1/models/{ref.base}", "remote model details are unavailable"
            )
            return Response(
                gojson.dumps({"error": error.message}),
                status_code=error.status,
                headers={"content-type": "application/json; charset=utf-8"},
            )
    except Exception:  # noqa: S110 - the show handler reports bad names itself
        pass
    try:
        shown = show_model(request.app.state.emulator, {"name": name})
    except ApiError as error:
        return writer_error(error)
    modified = _created({"created_at": shown.get("modified_at")})
    return json_answer({"id": name, "object": "model", "created": modified, "owned_by": _owner(name)})


def openai_routes() -> list[BaseRoute]:
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model}", retrieve_model, methods=["GET"]),
    ]
