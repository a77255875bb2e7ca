"""``POST /api/generate`` and ``POST /api/chat``, following Ollama 0.33's GenerateHandler and ChatHandler.

Each request is *prepared* (decoded, checked, scheduled; every refusal an :class:`ApiError` with
Ollama's status and text) into either an immediate answer (the load and unload forms) or a stream of
events; the native routes write those as NDJSON, the OpenAI-compatible routes
(:mod:`.openai_routes`) translate the same events, as Ollama's middleware wraps the same handlers.
The text comes from the loaded model's runner (:mod:`.engine`); this module only shapes it. For a
runner that does not measure itself (the synthetic engine) it also plays the runner's part that
costs time: the performance model's latency and token rate, and the context shift.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_ollama.testing.emulator import inference_fields as fields
from airflow_provider_ollama.testing.emulator.engine import (
    Completion,
    CompletionRequest,
    ModelRunner,
    Timings,
)
from airflow_provider_ollama.testing.emulator.generation import Chunk, FormatError, OutputFormat
from airflow_provider_ollama.testing.emulator.gojson import go_quote
from airflow_provider_ollama.testing.emulator.http import (
    ApiError,
    json_response,
    ndjson_response,
    read_json_body,
)
from airflow_provider_ollama.testing.emulator.inference_steps import (
    IMAGE_TOKENS,
    CapabilityError,
    InferenceState,
    check_capabilities,
    check_remote,
    engine_errors,
    find_model,
    merged_options,
    multimodal_unsupported,
    nonzero,
    now,
    schedule,
    state_of,
    thinking_level,
    unless_disconnected,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.scheduler import Lease, Pacer
from airflow_provider_ollama.testing.emulator.template_check import template_parse_error

PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten the prompt, "
    "adjust the context length in settings, or use a model with a longer context length"
)
_ID_LETTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

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
    "_debug_render_only": "bool",
}
GENERATE_FIELDS = {
    **_COMMON_FIELDS,
    "prompt": "string",
    "suffix": "string",
    "system": "string",
    "template": "string",
    "context": "interface {}",
    "raw": "bool",
    "images": "interface {}",
}
CHAT_FIELDS = {**_COMMON_FIELDS, "messages": "[]api.Message", "tools": "interface {}"}
_MESSAGE_STRING_FIELDS = ("role", "content", "thinking", "tool_name", "tool_call_id")


@dataclass
class Prepared:
    """A prepared request: an answer to send at once, or events to stream (and how to fold them)."""

    immediate: dict[str, Any] | None = None
    events: AsyncIterator[dict[str, Any]] | None = None
    stream: bool = True
    model: str = ""


@dataclass
class _Run:
    """A scheduled generation on its way through a slot."""

    name: str
    model: LocalModel
    request: CompletionRequest
    lease: Lease
    stack: AsyncExitStack
    started: float
    media: list[str]
    format_value: Any
    loaded_at: float = 0.0
    prompt_tokens: int = 0
    #: The runner's answer, prepared (its prompt counted) before a slot is taken.
    completion: Completion | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runner(self) -> ModelRunner:
        return self.lease.runner


def _check_top_logprobs(body: Mapping[str, Any]) -> None:
    top = body.get("top_logprobs") or 0
    if top < 0 or top > 20:
        raise ApiError(400, "top_logprobs must be between 0 and 20")


def _check_format(value: Any) -> OutputFormat:
    """The runner's check of ``format`` (500 ``invalid format: ...``), made once a slot is held."""
    try:
        return OutputFormat.parse(value)
    except FormatError as error:
        raise ApiError(500, str(error)) from None


def _output_format(value: Any) -> OutputFormat:
    try:
        return OutputFormat.parse(value)
    except FormatError:
        return OutputFormat()  # reported once the slot is taken, where Ollama's runner reports it


def _schedule_capability_error(error: CapabilityError, requested: str, verb: str) -> ApiError:
    """``errCapabilityCompletion`` is reported by name as sent; other missing capabilities by full name."""
    if "completion" in error.missing:
        return ApiError(400, f"{go_quote(requested)} does not support {verb}")
    return error


async def _schedule_runner(
    state: InferenceState,
    model: LocalModel,
    requested: str,
    wants: tuple[str, Sequence[str], bool | str | None],
    body: Mapping[str, Any],
    keep_alive: float | None,
) -> tuple[str | None, dict[str, Any], AsyncExitStack, Lease, float]:
    """Thinking, then ``scheduleRunner``: the capabilities (``wants``: the handler's verb, the
    capabilities it needs, the request's think), the options, a runner (released by the stack)."""
    verb, wanted, think = wants
    level = thinking_level(model, requested, think)
    try:
        check_capabilities(model, wanted)
    except CapabilityError as error:
        raise _schedule_capability_error(error, requested, verb) from None
    options = merged_options(model, body.get("options"))
    stack = AsyncExitStack()
    try:
        lease = await schedule(stack, state, model, keep_alive, options, body.get("shift"))
    except BaseException:
        await stack.aclose()
        raise
    return level, options, stack, lease, time.monotonic()


def _context_fit(tokens: int, num_ctx: int, options: Mapping[str, Any], shift: bool, media: bool) -> int:
    """``completionPromptForRequest``: a prompt longer than the context is cut (context shift) keeping
    ``num_keep`` tokens, or refused when the model cannot shift; returns the tokens evaluated."""
    if media or num_ctx <= 1 or tokens <= num_ctx - 1:
        return tokens
    if not shift:
        raise ApiError(400, PROMPT_TOO_LONG)
    keep = int(options.get("num_keep", 4))
    keep = tokens if keep < 0 else keep + 1  # the synthetic tokenizer adds BOS
    keep = max(0, min(keep, num_ctx - 1))
    return num_ctx - max((num_ctx - keep) // 2, 1)


# --------------------------------------------------------------------------------------------------
# generate


async def prepare_generate(state: InferenceState, body: Mapping[str, Any]) -> Prepared:
    """GenerateHandler up to the first token."""
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    think = fields.think_value(body.get("think"))
    images = fields.images(body.get("images"), "GenerateRequest")
    context = fields.token_context(body.get("context"))
    _check_top_logprobs(body)
    requested = str(body.get("model") or "")
    not_found = ApiError(404, f"model '{requested}' not found")
    ref, model = find_model(state, requested, required=not_found, path="/api/generate")
    if model is None:
        raise not_found
    check_remote(state, ref, model, requested, "/api/generate")
    stream = body.get("stream") is not False
    prompt = str(body.get("prompt") or "")
    if not prompt and keep_alive == 0:
        state.scheduler.expire(model)
        return Prepared(
            immediate=_generate_object(requested, done=True, done_reason="unload"), model=requested
        )
    raw = bool(body.get("raw"))
    system = str(body.get("system") or "")
    template = str(body.get("template") or "")
    if raw and (template or system or context):
        raise ApiError(400, "raw mode does not support template, system, or context")
    suffix = str(body.get("suffix") or "")
    wanted = ["completion", *(["insert"] if suffix else [])]
    level, options, stack, lease, loaded_at = await _schedule_runner(
        state, model, requested, ("generate", wanted, think), body, keep_alive
    )
    if not prompt:
        await stack.aclose()
        answer = _generate_object(requested, done=True, done_reason="load")
        return Prepared(immediate=answer, model=requested)
    try:
        if template:
            problem = template_parse_error(template)
            if problem:
                raise ApiError(500, problem)
        truncate = body.get("truncate") is not False
        completion = _generate_completion(
            model, options, body, raw, system, prompt, suffix, context, images, level
        )
        completion = replace(completion, truncate=truncate, shift=lease_shift(body, model))
        run = _Run(requested, model, completion, lease, stack, started, images, body.get("format"), loaded_at)
        run.completion, run.prompt_tokens = await _prompt_tokens(run.runner, completion, model, images)
    except BaseException:
        await stack.aclose()
        raise
    shell = {"model": requested, "created_at": now(), "response": "", "done": False}
    return await _prepared(run, body, shell, lambda: _generate_events(run, raw), stream)


async def _prepared(
    run: _Run,
    body: Mapping[str, Any],
    debug_shell: dict[str, Any],
    events: Callable[[], AsyncIterator[dict[str, Any]]],
    stream: bool,
) -> Prepared:
    """The request's events, or with ``_debug_render_only`` the prompt the model would have seen."""
    if body.get("_debug_render_only"):
        try:
            with engine_errors():
                debug_shell["_debug_info"] = _debug_info(await run.runner.render(run.request), run.media)
        finally:
            await run.stack.aclose()
        return Prepared(immediate=debug_shell, model=run.name)
    return Prepared(events=events(), stream=stream, model=run.name)


def _generate_completion(
    model: LocalModel,
    options: Mapping[str, Any],
    body: Mapping[str, Any],
    raw: bool,
    system: str,
    prompt: str,
    suffix: str,
    context: list[int],
    images: list[str],
    level: str | None,
) -> CompletionRequest:
    messages: list[dict[str, Any]] = []
    if suffix and not raw:
        # With a suffix Ollama fills the template's Prompt and Suffix only (no system, no history).
        messages = [
            {"role": "user", "content": prompt, "images": images},
            {"role": "user", "content": suffix},
        ]
    elif not raw:
        system = system or model.system
        if system:
            messages.append({"role": "system", "content": system})
        if body.get("context") is None:
            messages.extend(dict(message) for message in model.messages)
        messages.append({"role": "user", "content": prompt, "images": images})
    top = int(body.get("top_logprobs") or 0) if body.get("logprobs") else None
    return CompletionRequest(
        model=model,
        messages=tuple(messages),
        options=options,
        output_format=_output_format(body.get("format")),
        think_level=level,
        top_logprobs=top,
        raw_prompt=prompt if raw else None,
        suffix=suffix,
        context=tuple(context),
    )


async def _prompt_tokens(
    runner: ModelRunner, request: CompletionRequest, model: LocalModel, media: Sequence[str]
) -> tuple[Completion, int]:
    """The runner's answer to ``request`` (not started yet) and the prompt's tokens, images included."""
    with engine_errors():
        completion = await runner.complete(request)
    images = IMAGE_TOKENS * len(media) if model.supports("vision") else 0
    return completion, completion.prompt_eval_count + images


def _debug_info(rendered: str, media: Sequence[str]) -> dict[str, Any]:
    info: dict[str, Any] = {"rendered_template": rendered}
    if media:
        info["image_count"] = len(media)
    return info


async def _started(run: _Run, pacer: Pacer) -> tuple[int, int, Completion]:
    """What the runner does once it holds a slot: check the format and media support; a runner that
    does not measure itself gets the context check and the prompt's time from the performance model
    here (a real one does both as it answers). Returns the prompt's tokens and time, and the answer."""
    _check_format(run.format_value)
    if run.media and not run.model.supports("vision"):
        raise multimodal_unsupported()
    assert run.completion is not None
    if run.runner.measured:
        return run.prompt_tokens, 0, run.completion
    tokens = run.prompt_tokens
    request = run.request
    if request.truncate:
        tokens = _context_fit(
            tokens, run.lease.context_length, request.options, request.shift, bool(run.media)
        )
    prompt_ns = await pacer.prompt()
    return tokens, prompt_ns, run.completion


async def _paced(run: _Run, pacer: Pacer, completion: Completion) -> AsyncIterator[Chunk]:
    """The runner's chunks; a synthetic runner's each released when the token rate says it is due."""
    paced = not run.runner.measured
    with engine_errors():
        async for chunk in completion.chunks():
            if paced:
                await pacer.tokens(chunk.tokens)
            yield chunk


def _with_logprobs(event: dict[str, Any], chunk: Chunk) -> dict[str, Any]:
    """``event`` with the chunk's token log probabilities, when the request asked for them."""
    if chunk.logprobs:
        event["logprobs"] = chunk.logprobs
    return event


async def _generate_events(run: _Run, raw: bool) -> AsyncIterator[dict[str, Any]]:
    try:
        async with run.lease.slot() as pacer:
            prompt_tokens, prompt_ns, completion = await _started(run, pacer)
            async for chunk in _paced(run, pacer, completion):
                if not (chunk.content or chunk.thinking or chunk.logprobs):
                    continue
                yield _with_logprobs(
                    _generate_object(run.name, response=chunk.content, thinking=chunk.thinking), chunk
                )
            eval_ns = pacer.eval_duration_ns()
        if not completion.done_reason:
            return  # the runner gave up (token repeats): Ollama ends the answer without a final object
        final = _generate_object(run.name, done=True, done_reason=completion.done_reason)
        if not raw:
            with engine_errors():
                final["context"] = await completion.context_ids()
        final.update(_metrics(run, prompt_tokens, prompt_ns, completion, eval_ns))
        yield final
    finally:
        await run.stack.aclose()


def _metrics(
    run: _Run, prompt_tokens: int, prompt_ns: int, completion: Completion, eval_ns: int
) -> dict[str, int]:
    """The final object's metrics: the runner's own timings when it measures, else the pacer's."""
    eval_count = completion.eval_count
    timings: Timings | None = completion.timings
    if timings is not None:
        prompt_tokens, prompt_ns = timings.prompt_eval_count, timings.prompt_eval_duration_ns
        eval_ns = timings.eval_duration_ns
    return nonzero(
        total_duration=int((time.monotonic() - run.started) * 1e9),
        load_duration=int((run.loaded_at - run.started) * 1e9) or run.lease.load_duration_ns,
        prompt_eval_count=prompt_tokens,
        prompt_eval_duration=prompt_ns,
        eval_count=eval_count,
        eval_duration=eval_ns if eval_count else 0,
    )


def _generate_object(
    name: str, *, response: str = "", thinking: str = "", done: bool = False, done_reason: str = ""
) -> dict[str, Any]:
    """``api.GenerateResponse`` in field order (thinking and done_reason are ``omitempty``)."""
    event: dict[str, Any] = {"model": name, "created_at": now(), "response": response}
    if thinking:
        event["thinking"] = thinking
    event["done"] = done
    if done_reason:
        event["done_reason"] = done_reason
    return event


#: Go's zero ``time.Time``, which a response that never got an object carries.
_ZERO_TIME = "0001-01-01T00:00:00Z"


def reduce_generate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``stream: false``: the last object with the whole response, thinking and log probabilities
    (Go's zero response when the runner gave up before the first piece)."""
    if not events:
        return {"model": "", "created_at": _ZERO_TIME, "response": "", "done": False}
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


async def prepare_chat(
    state: InferenceState, body: Mapping[str, Any], *, relax_thinking: bool = False
) -> Prepared:
    """ChatHandler up to the first token (``relax_thinking``: the Anthropic route's leniency)."""
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    think = fields.think_value(body.get("think"))
    messages = decode_messages(body.get("messages"))
    tools = decode_tools(body.get("tools"))
    _check_top_logprobs(body)
    requested = str(body.get("model") or "")
    ref, model = find_model(state, requested, required=ApiError(400, "model is required"), path="/api/chat")
    if model is None:
        raise ApiError(404, f"model '{requested}' not found")
    if ref.source == "local" and model.config.get("remote_host") and model.config.get("remote_model"):
        raise ApiError(404, f"model '{requested}' not found")
    stream = body.get("stream") is not False
    if not messages and keep_alive == 0:
        state.scheduler.expire(model)
        return Prepared(immediate=chat_object(requested, done=True, done_reason="unload"), model=requested)
    check_remote(state, ref, model, requested, "/api/chat")
    if relax_thinking and not model.supports("thinking") and think not in (None, False):
        think = None
    level, options, stack, lease, loaded_at = await _schedule_runner(
        state,
        model,
        requested,
        ("chat", ["completion", *(["tools"] if tools else [])], think),
        body,
        keep_alive,
    )
    if not messages:
        await stack.aclose()
        return Prepared(immediate=chat_object(requested, done=True, done_reason="load"), model=requested)
    conversation = [dict(message) for message in model.messages] + messages
    if messages[0].get("role") != "system" and model.system:
        conversation.insert(0, {"role": "system", "content": model.system})
    images = [image for message in conversation for image in message.get("images") or []]
    top = int(body.get("top_logprobs") or 0) if body.get("logprobs") else None
    completion = CompletionRequest(
        model=model,
        messages=tuple(conversation),
        options=options,
        output_format=_output_format(body.get("format")),
        think_level=level,
        tools=tuple(tools),
        top_logprobs=top,
        tool_calls_allowed=bool(tools) and conversation[-1].get("role") == "user",
        truncate=body.get("truncate") is not False,
        shift=lease_shift(body, model),
    )
    run = _Run(requested, model, completion, lease, stack, started, images, body.get("format"), loaded_at)
    try:
        await _chat_prompt(run, lease.context_length)
    except BaseException:
        await stack.aclose()
        raise
    shell = {"model": requested, "created_at": now(), "message": {"role": "", "content": ""}, "done": False}
    return await _prepared(run, body, shell, lambda: _chat_events(run), stream)


def lease_shift(body: Mapping[str, Any], model: LocalModel) -> bool:
    """``resolveContextShift``: the request's ``shift``, else on except for deepseek2 models."""
    if isinstance(body.get("shift"), bool):
        return bool(body["shift"])
    return str(model.config.get("model_family") or "") != "deepseek2"


async def _chat_prompt(run: _Run, num_ctx: int) -> None:
    """``chatPrompt``: with ``truncate`` the oldest messages are left out (system messages kept) until
    the rendered conversation fits the context; the last message always stays. Sets the run's
    request to the conversation kept, its prepared answer and the prompt's tokens."""
    messages = list(run.request.messages)
    starts = range(len(messages)) if run.request.truncate else range(1)
    for start in starts:
        kept = [message for message in messages[:start] if message.get("role") == "system"] + messages[start:]
        request = replace(run.request, messages=tuple(kept))
        images = [image for message in kept for image in message.get("images") or []]
        completion, counted = await _prompt_tokens(run.runner, request, run.model, images)
        if counted <= num_ctx or start == len(messages) - 1 or not run.request.truncate:
            break
    run.request, run.completion, run.prompt_tokens = request, completion, counted


async def _chat_events(run: _Run) -> AsyncIterator[dict[str, Any]]:
    native = not run.model.rendered_chat
    held_calls: list[dict[str, Any]] = []
    try:
        async with run.lease.slot() as pacer:
            prompt_tokens, prompt_ns, completion = await _started(run, pacer)
            async for chunk in _paced(run, pacer, completion):
                calls = chunk.tool_calls
                if native and calls:
                    # llama-server sends tool calls as deltas; Ollama hands them on with the last chunk.
                    held_calls.extend(_native_call(call, len(held_calls)) for call in calls)
                    calls = []
                if not (chunk.content or chunk.thinking or calls or chunk.logprobs):
                    continue
                yield _with_logprobs(
                    chat_object(run.name, content=chunk.content, thinking=chunk.thinking, tool_calls=calls),
                    chunk,
                )
            eval_ns = pacer.eval_duration_ns()
        if not completion.done_reason:
            return  # the runner gave up (token repeats): Ollama ends the answer without a final object
        final = chat_object(run.name, tool_calls=held_calls, done=True, done_reason=completion.done_reason)
        final.update(_metrics(run, prompt_tokens, prompt_ns, completion, eval_ns))
        yield final
    finally:
        await run.stack.aclose()


def _native_call(call: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A tool call as llama-server reports it: a 32-character id of its own, arguments re-parsed."""
    seed = hashlib.sha256(json.dumps(call, sort_keys=True).encode()).digest()
    call_id = "".join(_ID_LETTERS[byte % len(_ID_LETTERS)] for byte in seed)
    function = dict(call.get("function") or {})
    function["index"] = index
    return {"id": call_id, "function": function}


def chat_object(
    name: str,
    *,
    content: str = "",
    thinking: str = "",
    tool_calls: Sequence[Mapping[str, Any]] = (),
    done: bool = False,
    done_reason: str = "",
) -> dict[str, Any]:
    """``api.ChatResponse`` in field order: model, created_at, message, done, done_reason."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    event: dict[str, Any] = {"model": name, "created_at": now(), "message": message, "done": done}
    if done_reason:
        event["done_reason"] = done_reason
    return event


_METRIC_KEYS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def reduce_chat(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``writeChatResponse`` with ``stream: false``: the last object with the whole message, then the
    log probabilities of every chunk before the metrics (``api.ChatResponse`` field order)."""
    if not events:
        return {"model": "", "created_at": _ZERO_TIME, "message": {"role": "", "content": ""}, "done": False}
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
    result: dict[str, Any] = {key: final[key] for key in ("model", "created_at") if key in final}
    result["message"] = message
    for key in ("done", "done_reason"):
        if key in final:
            result[key] = final[key]
    if logprobs:
        result["logprobs"] = logprobs
    result.update({key: final[key] for key in _METRIC_KEYS if key in final})
    return result


def decode_messages(value: Any) -> list[dict[str, Any]]:
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


def decode_tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise ApiError(400, fields.unmarshal_error(value, "ChatRequest.tools", "api.Tools"))
    return list(value)


# --------------------------------------------------------------------------------------------------
# Routes


async def answer(prepared: Prepared, reduce: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> Response:
    """Write a prepared request as Ollama does: JSON, or NDJSON while streaming."""
    if prepared.immediate is not None:
        return json_response(prepared.immediate)
    assert prepared.events is not None
    return await ndjson_response(prepared.events, stream=prepared.stream, reduce=reduce)


async def generate(request: Request) -> Response:
    body = await read_json_body(request, fields=GENERATE_FIELDS, struct="GenerateRequest")

    async def respond() -> Response:
        return await answer(await prepare_generate(state_of(request), body), reduce_generate)

    return await unless_disconnected(request, respond())


async def chat(request: Request) -> Response:
    body = await read_json_body(request, fields=CHAT_FIELDS, struct="ChatRequest")

    async def respond() -> Response:
        return await answer(await prepare_chat(state_of(request), body), reduce_chat)

    return await unless_disconnected(request, respond())
