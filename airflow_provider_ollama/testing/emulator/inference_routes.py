"""The inference half of the emulator's REST API: generate, chat, embed, embeddings and ps.

Handlers follow Ollama's GenerateHandler, ChatHandler, EmbedHandler, EmbeddingsHandler and PsHandler
step by step (validation order, status codes, messages, response field order) and hand the work to
the deterministic model (:mod:`.generation`, :mod:`.embeddings`) and the performance model
(:mod:`.scheduler`). A client that disconnects cancels its request, which frees its slot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import inference_fields as fields
from airflow_provider_ollama.testing.emulator.embeddings import (
    INPUT_TOO_LONG,
    InputTooLongError,
    embed_inputs,
    raw_embedding,
)
from airflow_provider_ollama.testing.emulator.generation import (
    FormatError,
    Generation,
    GenerationRequest,
    OutputFormat,
    count_tokens,
    prompt_token_count,
    token_ids,
)
from airflow_provider_ollama.testing.emulator.gojson import format_time_ns, go_quote
from airflow_provider_ollama.testing.emulator.http import (
    ApiError,
    json_response,
    ndjson_response,
    read_json_body,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.scheduler import (
    QUEUE_FULL_MESSAGE,
    Lease,
    QueueFullError,
    Scheduler,
)

#: Ollama's answer for images sent to a model whose architecture reads images but lacks the weights.
NO_VISION_MESSAGE = "this model is missing data required for image input"
NO_EMBEDDINGS_MESSAGE = "this model does not support embeddings"
_MULTIMODAL_ARCHITECTURES = frozenset({"gemma3", "gemma3n", "mistral3", "llama4", "qwen25vl", "qwen3vl"})
_IMAGE_TOKENS = 768  # what Ollama budgets per image on vision models

_COMMON_FIELDS = {
    "model": "string",
    "stream": "bool",
    "format": "interface {}",
    "options": "map[string]interface {}",
    "keep_alive": "interface {}",
    "think": "interface {}",
    "truncate": "bool",
    "shift": "bool",
    "logprobs": "bool",
    "top_logprobs": "int",
}
_GENERATE_FIELDS = {
    **_COMMON_FIELDS,
    "prompt": "string",
    "suffix": "string",
    "system": "string",
    "template": "string",
    "context": "interface {}",
    "raw": "bool",
    "images": "interface {}",
}
_CHAT_FIELDS = {**_COMMON_FIELDS, "messages": "[]api.Message", "tools": "interface {}"}
_EMBED_FIELDS = {
    "model": "string",
    "input": "interface {}",
    "keep_alive": "interface {}",
    "truncate": "bool",
    "dimensions": "int",
    "options": "map[string]interface {}",
}
_EMBEDDINGS_FIELDS = {
    "model": "string",
    "prompt": "string",
    "keep_alive": "interface {}",
    "options": "map[string]interface {}",
}
_MESSAGE_STRING_FIELDS = ("role", "content", "thinking", "tool_name", "tool_call_id")


class InferenceState(Protocol):
    """What these handlers need from the emulator's state (``request.app.state.emulator``)."""

    @property
    def scheduler(self) -> Scheduler: ...

    def find_model(self, name: str) -> LocalModel | None: ...


def inference_routes() -> list[BaseRoute]:
    """The routes to mount: POST generate, chat, embed, embeddings; GET ps (gin registers no HEAD)."""
    routes: list[BaseRoute] = [
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/embeddings", embeddings, methods=["POST"]),
        Route("/api/ps", ps, methods=["GET"]),
    ]
    for route in routes:
        if isinstance(route, Route) and route.methods is not None:
            route.methods.discard("HEAD")
    return routes


# --------------------------------------------------------------------------------------------------
# Endpoints


async def generate(request: Request) -> Response:
    body = await read_json_body(request, fields=_GENERATE_FIELDS, struct="GenerateRequest")
    return await _unless_disconnected(request, _generate(_state(request), body))


async def chat(request: Request) -> Response:
    body = await read_json_body(request, fields=_CHAT_FIELDS, struct="ChatRequest")
    return await _unless_disconnected(request, _chat(_state(request), body))


async def embed(request: Request) -> Response:
    body = await read_json_body(request, fields=_EMBED_FIELDS, struct="EmbedRequest")
    return await _unless_disconnected(request, _embed(_state(request), body))


async def embeddings(request: Request) -> Response:
    body = await read_json_body(request, fields=_EMBEDDINGS_FIELDS, struct="EmbeddingRequest")
    return await _unless_disconnected(request, _embeddings(_state(request), body))


async def ps(request: Request) -> Response:
    return json_response({"models": _state(request).scheduler.running()})


# --------------------------------------------------------------------------------------------------
# generate


async def _generate(state: InferenceState, body: dict[str, Any]) -> Response:
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    think = fields.think_value(body.get("think"))
    images = fields.images(body.get("images"), "GenerateRequest")
    context = fields.token_context(body.get("context"))
    _check_top_logprobs(body)
    name = str(body.get("model") or "")
    if not name:
        raise ApiError(404, f"model '{name}' not found")
    model = state.find_model(name)
    if model is None:
        raise ApiError(404, f"model '{name}' not found")

    prompt = str(body.get("prompt") or "")
    if not prompt and keep_alive == 0:
        state.scheduler.expire(model)
        return json_response(_generate_object(name, done=True, done_reason="unload"))

    raw = bool(body.get("raw"))
    system = str(body.get("system") or "")
    template = str(body.get("template") or "")
    if raw and (template or system or context):
        raise ApiError(400, "raw mode does not support template, system, or context")
    suffix = str(body.get("suffix") or "")
    level = _thinking(model, name, think)
    if not model.supports("completion"):
        raise ApiError(400, f"{go_quote(name)} does not support generate")
    if suffix and not model.supports("insert"):
        raise ApiError(400, f"{model.name} does not support insert")
    options = fields.merged_options(model.parameters, body.get("options"))

    stack = AsyncExitStack()
    lease = await _schedule(stack, state.scheduler, model, keep_alive, options)
    if not prompt:
        await stack.aclose()
        return json_response(_generate_object(name, done=True, done_reason="load"))

    if raw:
        seen_text, counted = prompt, count_tokens(prompt)
    else:
        system = system or model.system
        history = [] if context else list(model.messages)
        messages = [*history, {"role": "user", "content": prompt}]
        if suffix:
            messages.append({"role": "user", "content": suffix})
        seen_text = _conversation_text(system, messages)
        counted = prompt_token_count(system, messages) + len(context)
    counted += _IMAGE_TOKENS * len(images) if model.supports("vision") else 0
    seed_text = f"{seen_text}\n{context}" if context else seen_text
    generation = Generation(_generation_request(model, options, seed_text, level, body, tools=()))
    work = _Work(
        name=name,
        model=model,
        lease=lease,
        stack=stack,
        started=started,
        prompt_tokens=counted,
        images=images,
        format_value=body.get("format"),
        context_ids=None if raw else [*context, *token_ids(seen_text)],
    )
    return await ndjson_response(
        _generate_events(work, generation), stream=body.get("stream") is not False, reduce=_reduce_generate
    )


async def _generate_events(work: _Work, generation: Generation) -> AsyncIterator[dict[str, Any]]:
    try:
        async with work.running() as pacer:
            prompt_ns = await pacer.prompt()
            for chunk in generation.chunks():
                await pacer.tokens(chunk.tokens)
                if not (chunk.content or chunk.thinking or chunk.logprobs):
                    continue
                event = _generate_object(work.name, response=chunk.content, thinking=chunk.thinking)
                if chunk.logprobs:
                    event["logprobs"] = chunk.logprobs
                yield event
            eval_ns = pacer.eval_duration_ns()
        final = _generate_object(work.name, done=True, done_reason=generation.done_reason)
        if work.context_ids is not None:
            final["context"] = [*work.context_ids, *generation.response_token_ids()]
        final.update(work.metrics(prompt_ns, generation.eval_count, eval_ns))
        yield final
    finally:
        await work.stack.aclose()


def _generate_object(
    name: str, *, response: str = "", thinking: str = "", done: bool = False, done_reason: str = ""
) -> dict[str, Any]:
    event: dict[str, Any] = {"model": name, "created_at": _now(), "response": response}
    if thinking:
        event["thinking"] = thinking
    event["done"] = done
    if done_reason:
        event["done_reason"] = done_reason
    return event


def _reduce_generate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``stream: false``: the final object with the whole response and thinking, as Ollama sends it."""
    final = dict(events[-1])
    thinking = "".join(event.get("thinking", "") for event in events)
    logprobs = [entry for event in events for entry in event.get("logprobs", [])]
    result: dict[str, Any] = {}
    for key, value in final.items():
        if key == "response":
            result[key] = "".join(event.get("response", "") for event in events)
            if thinking:
                result["thinking"] = thinking
        elif key not in ("thinking", "logprobs"):
            result[key] = value
    if logprobs:
        result["logprobs"] = logprobs
    return result


# --------------------------------------------------------------------------------------------------
# chat


async def _chat(state: InferenceState, body: dict[str, Any]) -> Response:
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    think = fields.think_value(body.get("think"))
    messages = _messages(body.get("messages"))
    tools = _tools(body.get("tools"))
    _check_top_logprobs(body)
    name = str(body.get("model") or "")
    if not name:
        raise ApiError(400, "model is required")
    model = state.find_model(name)
    if model is None:
        raise ApiError(404, f"model '{name}' not found")

    if not messages and keep_alive == 0:
        state.scheduler.expire(model)
        return json_response(_chat_object(name, done=True, done_reason="unload"))

    level = _thinking(model, name, think)
    if not model.supports("completion"):
        raise ApiError(400, f"{go_quote(name)} does not support chat")
    if tools and not model.supports("tools"):
        raise ApiError(400, f"{model.name} does not support tools")
    options = fields.merged_options(model.parameters, body.get("options"))

    stack = AsyncExitStack()
    lease = await _schedule(stack, state.scheduler, model, keep_alive, options)
    if not messages:
        await stack.aclose()
        return json_response(_chat_object(name, done=True, done_reason="load"))

    conversation = [*model.messages, *messages]
    system = model.system if messages[0].get("role") != "system" else ""
    tools_text = json.dumps(tools) if tools else ""
    images = [image for message in messages for image in message.get("images") or []]
    counted = prompt_token_count(system, conversation, tools_text)
    counted += _IMAGE_TOKENS * len(images) if model.supports("vision") else 0
    call_tools = tuple(tools) if messages[-1].get("role") == "user" else ()
    generation = Generation(
        _generation_request(
            model, options, _conversation_text(system, conversation), level, body, tools=call_tools
        )
    )
    work = _Work(
        name=name,
        model=model,
        lease=lease,
        stack=stack,
        started=started,
        prompt_tokens=counted,
        images=images,
        format_value=body.get("format"),
        context_ids=None,
    )
    return await ndjson_response(
        _chat_events(work, generation), stream=body.get("stream") is not False, reduce=_reduce_chat
    )


async def _chat_events(work: _Work, generation: Generation) -> AsyncIterator[dict[str, Any]]:
    try:
        async with work.running() as pacer:
            prompt_ns = await pacer.prompt()
            for chunk in generation.chunks():
                await pacer.tokens(chunk.tokens)
                if not (chunk.content or chunk.thinking or chunk.tool_calls or chunk.logprobs):
                    continue
                event = _chat_object(
                    work.name, content=chunk.content, thinking=chunk.thinking, tool_calls=chunk.tool_calls
                )
                if chunk.logprobs:
                    event["logprobs"] = chunk.logprobs
                yield event
            eval_ns = pacer.eval_duration_ns()
        final = _chat_object(work.name, done=True, done_reason=generation.done_reason)
        final.update(work.metrics(prompt_ns, generation.eval_count, eval_ns))
        yield final
    finally:
        await work.stack.aclose()


def _chat_object(
    name: str,
    *,
    content: str = "",
    thinking: str = "",
    tool_calls: Sequence[Mapping[str, Any]] = (),
    done: bool = False,
    done_reason: str = "",
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    event: dict[str, Any] = {"model": name, "created_at": _now(), "message": message}
    if done_reason:
        event["done_reason"] = done_reason
    event["done"] = done
    return event


def _reduce_chat(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``stream: false``: the final object with the whole message (content, thinking, tool calls)."""
    final = dict(events[-1])
    content = "".join(event["message"].get("content", "") for event in events)
    thinking = "".join(event["message"].get("thinking", "") for event in events)
    calls = [call for event in events for call in event["message"].get("tool_calls", [])]
    logprobs = [entry for event in events for entry in event.get("logprobs", [])]
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    final["message"] = message
    final.pop("logprobs", None)
    if logprobs:
        final["logprobs"] = logprobs
    return final


def _messages(value: Any) -> list[dict[str, Any]]:
    """``[]api.Message``: each an object whose text fields are strings; roles are lower-cased."""
    if value is None:
        return []
    messages: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict):
            raise ApiError(400, fields.unmarshal_error(item, "ChatRequest.messages", "api.Message"))
        message = dict(item)
        for key in _MESSAGE_STRING_FIELDS:
            if message.get(key) is not None and not isinstance(message[key], str):
                raise ApiError(
                    400, fields.unmarshal_error(message[key], f"ChatRequest.messages.{key}", "string")
                )
        message["role"] = str(message.get("role") or "").lower()
        message["images"] = fields.images(message.get("images"), "ChatRequest.messages")
        messages.append(message)
    return messages


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise ApiError(400, fields.unmarshal_error(value, "ChatRequest.tools", "api.Tools"))
    return list(value)


# --------------------------------------------------------------------------------------------------
# embed and embeddings


async def _embed(state: InferenceState, body: dict[str, Any]) -> Response:
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    name = str(body.get("model") or "")
    if not name:
        raise ApiError(404, f"model '{name}' not found")
    model = state.find_model(name)  # an invalid name is refused before the input is looked at
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        inputs = [raw_input] if raw_input else []
    elif isinstance(raw_input, list):
        if not all(isinstance(item, str) for item in raw_input):
            raise ApiError(400, "invalid input type")
        inputs = list(raw_input)
    elif raw_input is None:
        inputs = []
    else:
        raise ApiError(400, "invalid input type")
    if model is None:
        raise ApiError(404, f"model {go_quote(name)} not found, try pulling it first")
    options = fields.merged_options(model.parameters, body.get("options"))

    async with AsyncExitStack() as stack:
        lease = await _schedule(stack, state.scheduler, model, keep_alive, options)
        if not inputs:
            return json_response({"model": name, "embeddings": []})
        if not model.supports("embedding"):
            raise ApiError(501, NO_EMBEDDINGS_MESSAGE)
        async with lease.slot() as pacer:
            await pacer.prompt()
            try:
                result = embed_inputs(
                    model.digest_hex,
                    inputs,
                    embedding_length=model.embedding_length,
                    context_length=lease.context_length,
                    truncate=body.get("truncate") is not False,
                    dimensions=body.get("dimensions"),
                )
            except InputTooLongError as error:
                raise ApiError(400, str(error)) from None
    answer: dict[str, Any] = {"model": name, "embeddings": result.embeddings}
    answer.update(
        _nonzero(
            total_duration=int((time.monotonic() - started) * 1e9),
            load_duration=lease.load_duration_ns,
            prompt_eval_count=result.prompt_eval_count,
        )
    )
    return json_response(answer)


async def _embeddings(state: InferenceState, body: dict[str, Any]) -> Response:
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    name = str(body.get("model") or "")
    if not name:
        raise ApiError(400, "model is required")
    model = state.find_model(name)
    if model is None:
        raise ApiError(404, f"model {go_quote(name)} not found, try pulling it first")
    options = fields.merged_options(model.parameters, body.get("options"))
    prompt = str(body.get("prompt") or "")
    async with AsyncExitStack() as stack:
        lease = await _schedule(stack, state.scheduler, model, keep_alive, options)
        if not prompt:
            return json_response({"embedding": []})
        if not model.supports("embedding"):
            raise ApiError(500, NO_EMBEDDINGS_MESSAGE)
        if count_tokens(prompt) > lease.context_length:
            raise ApiError(500, INPUT_TOO_LONG)
        async with lease.slot() as pacer:
            await pacer.prompt()
            vector = raw_embedding(model.digest_hex, prompt, model.embedding_length)
    return json_response({"embedding": vector})


# --------------------------------------------------------------------------------------------------
# Shared steps


@dataclass
class _Work:
    """A scheduled generate or chat request on its way through a slot."""

    name: str
    model: LocalModel
    lease: Lease
    stack: AsyncExitStack
    started: float
    prompt_tokens: int
    images: list[str]
    format_value: Any
    context_ids: list[int] | None

    def running(self) -> Any:
        """Check what the runner checks before it starts, then hold a slot for the generation."""
        try:
            OutputFormat.parse(self.format_value)
        except FormatError as error:
            raise ApiError(500, str(error)) from None
        if (
            self.images
            and not self.model.supports("vision")
            and self.model.architecture in _MULTIMODAL_ARCHITECTURES
        ):
            raise ApiError(500, NO_VISION_MESSAGE)
        return self.lease.slot()

    def metrics(self, prompt_ns: int, eval_count: int, eval_ns: int) -> dict[str, int]:
        return _nonzero(
            total_duration=int((time.monotonic() - self.started) * 1e9),
            load_duration=self.lease.load_duration_ns,
            prompt_eval_count=self.prompt_tokens,
            prompt_eval_duration=prompt_ns,
            eval_count=eval_count,
            eval_duration=eval_ns if eval_count else 0,
        )


def _state(request: Request) -> InferenceState:
    state: InferenceState = request.app.state.emulator
    return state


async def _schedule(
    stack: AsyncExitStack,
    scheduler: Scheduler,
    model: LocalModel,
    keep_alive: float | None,
    options: Mapping[str, Any],
) -> Lease:
    """Queue the request and load the model; the lease lives until ``stack`` closes."""
    try:
        return await stack.enter_async_context(
            scheduler.use(model, keep_alive_seconds=keep_alive, num_ctx=options.get("num_ctx"))
        )
    except QueueFullError:
        await stack.aclose()
        raise ApiError(503, QUEUE_FULL_MESSAGE) from None
    except BaseException:
        await stack.aclose()
        raise


def _thinking(model: LocalModel, name: str, think: bool | str | None) -> str | None:
    """Thinking models think unless told not to; others refuse a request to think."""
    if model.supports("thinking"):
        return fields.think_level(True if think is None else think)
    if think is not None and think is not False:
        raise ApiError(400, f"{go_quote(name)} does not support thinking")
    return None


def _check_top_logprobs(body: Mapping[str, Any]) -> None:
    top = body.get("top_logprobs") or 0
    if top < 0 or top > 20:
        raise ApiError(400, "top_logprobs must be between 0 and 20")


def _generation_request(
    model: LocalModel,
    options: Mapping[str, Any],
    seen_text: str,
    level: str | None,
    body: Mapping[str, Any],
    *,
    tools: tuple[Mapping[str, Any], ...],
) -> GenerationRequest:
    try:
        output_format = OutputFormat.parse(body.get("format"))
    except FormatError:
        output_format = OutputFormat()  # reported by _Work.running(), where Ollama's runner reports it
    return GenerationRequest(
        model_digest=model.digest_hex,
        prompt=seen_text,
        seed=int(options.get("seed", 0)),
        num_predict=int(options.get("num_predict", 0)),
        stop=tuple(options.get("stop", ())),
        output_format=output_format,
        think_level=level,
        tools=tools,
        top_logprobs=int(body.get("top_logprobs") or 0) if body.get("logprobs") else None,
    )


def _conversation_text(system: str, messages: Sequence[Mapping[str, Any]]) -> str:
    parts = [f"system: {system}"] if system else []
    parts.extend(f"{message.get('role', '')}: {message.get('content') or ''}" for message in messages)
    return "\n".join(parts)


def _nonzero(**metrics: int) -> dict[str, int]:
    """Ollama's metrics are ``omitempty``: zero values are left out."""
    return {key: value for key, value in metrics.items() if value}


def _now() -> str:
    return format_time_ns(time.time_ns(), utc=True)


async def _unless_disconnected(request: Request, answer: Awaitable[Response]) -> Response:
    """Await the handler, cancelling it if the client goes away first (Ollama's request context).

    Cancelling unwinds the scheduler's context managers, so a slot or queue place is freed at once.
    The body must already be read: from here on the only message left is the disconnect.
    """
    handler = asyncio.ensure_future(answer)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not handler.done():
            handler.cancel()
    if handler.cancelled() or not handler.done():
        with suppress(asyncio.CancelledError, Exception):
            await handler
        return Response(b"", status_code=499)
    return handler.result()


async def _disconnected(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
