"""The ``/v1`` OpenAI-compatible routes, driven by the official ``openai`` client and by raw HTTP.

They wrap the native handlers as Ollama's middleware does (middleware/openai.go, openai/openai.go):
the same text as the native route for the same request, OpenAI's shapes around it, OpenAI's error
objects with the native status.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.testing.emulator.conftest import Emulator

WEATHER_QUESTION: Any = [{"role": "user", "content": "weather in Paris?"}]
STREAM_USAGE: Any = {"include_usage": True}
MESSAGES: Any = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture
def oai(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emulator.url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


@pytest.fixture
def native(emulator: Emulator) -> Iterator[ollama.Client]:
    with ollama.Client(host=emulator.url, timeout=30) as client:
        yield client


def sse_events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a server-sent event stream, checking its framing."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    text = response.text
    assert text.endswith("data: [DONE]\n\n")
    blocks = text.split("\n\n")[:-1]
    assert all(block.startswith("data: ") for block in blocks)
    return [json.loads(block[6:]) for block in blocks[:-1]]


def openai_error(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()["error"]


# --------------------------------------------------------------------------------------------------
# chat completions


def test_chat_completion_carries_the_native_answer(oai: openai.OpenAI, native: ollama.Client) -> None:
    completion = oai.chat.completions.create(model="tiny", messages=MESSAGES, seed=3)
    expected = native.chat(model="tiny", messages=MESSAGES, options={"seed": 3, "temperature": 1, "top_p": 1})
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "tiny"
    assert completion.system_fingerprint == "fp_ollama"
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == expected.message.content
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == expected.prompt_eval_count
    assert completion.usage.completion_tokens == expected.eval_count
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_chat_completion_stream_has_role_first_finish_last_and_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        stream=True,
        stream_options=STREAM_USAGE,
        max_tokens=6,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.choices[0].delta.role is None for chunk in chunks[1:-2])
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "length"
    assert finish.choices[0].delta.content is None
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == 6
    assert len({chunk.created for chunk in chunks}) == 1, "one created stamp for the whole stream"
    assert len({chunk.id for chunk in chunks}) == 1


def test_chat_stream_framing_over_raw_http(emulator: Emulator) -> None:
    body = {"model": "tiny", "messages": MESSAGES, "stream": True}
    events = sse_events(emulator.post("/v1/chat/completions", body))
    assert [event["object"] for event in events] == ["chat.completion.chunk"] * len(events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert "usage" not in events[-1]


def test_thinking_comes_as_reasoning(oai: openai.OpenAI, emulator: Emulator) -> None:
    completion = oai.chat.completions.create(model="tiny-think", messages=MESSAGES)
    message = completion.choices[0].message.model_dump()
    assert message["reasoning"]
    assert message["content"]
    off = emulator.post(
        "/v1/chat/completions", {"model": "tiny-think", "messages": MESSAGES, "reasoning_effort": "none"}
    )
    assert "reasoning" not in off.json()["choices"][0]["message"]


def test_tool_calls_have_string_arguments_and_finish_with_tool_calls(oai: openai.OpenAI) -> None:
    tool: Any = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    completion = oai.chat.completions.create(
        model="tiny-think",
        messages=WEATHER_QUESTION,
        tools=[tool],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    assert call.id.startswith("call_")


def test_response_format_json_schema_gives_a_conforming_object(oai: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    completion = oai.chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        response_format=response_format,
    )
    assert isinstance(json.loads(completion.choices[0].message.content or "")["answer"], int)


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({"model": "tiny", "messages": []}, 400, "invalid_request_error", "[] is too short - 'messages'"),
        ({"model": "nope", "messages": MESSAGES}, 404, "not_found_error", "model 'nope' not found"),
        ({"model": "", "messages": MESSAGES}, 400, "invalid_request_error", "model is required"),
        (
            {"model": "tiny", "messages": MESSAGES, "reasoning_effort": "extreme"},
            400,
            "invalid_request_error",
            'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", '
            '"ultra", "max", or "none")',
        ),
        (
            {"model": "tiny", "messages": [{"role": "user", "content": 5}]},
            400,
            "invalid_request_error",
            "invalid message content type: float64",
        ),
        (
            {
                "model": "tiny",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": "https://x/a.png"}]}
                ],
            },
            400,
            "invalid_request_error",
            "image URLs are not currently supported, please use base64 encoded data instead",
        ),
        (
            {"model": "tiny-embed", "messages": MESSAGES},
            400,
            "invalid_request_error",
            '"tiny-embed" does not support chat',
        ),
        (
            {
                "model": "tiny",
                "messages": MESSAGES,
                "response_format": {"type": "json_schema", "json_schema": {"schema": 1}},
            },
            500,
            "api_error",
            'invalid format: "1"; expected "json" or a valid JSON Schema object',
        ),
        (
            {"model": "tiny", "messages": "hi"},
            400,
            "invalid_request_error",
            "json: cannot unmarshal string into Go struct field ChatCompletionRequest.messages of type []openai.Message",
        ),
    ],
)
def test_chat_errors_are_openai_error_objects(
    emulator: Emulator, body: dict[str, Any], status: int, kind: str, message: str
) -> None:
    response = emulator.post("/v1/chat/completions", body)
    assert openai_error(response) == (status, {"message": message, "type": kind, "param": None, "code": None})


def test_images_for_a_text_model_relay_llama_servers_refusal(emulator: Emulator) -> None:
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    content = [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
    ]
    response = emulator.post(
        "/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": content}]}
    )
    status, error = openai_error(response)
    assert status == 400
    assert json.loads(error["message"]) == {
        "error": {
            "code": 400,
            "message": "Multimodal data provided, but model does not support multimodal requests.",
            "type": "invalid_request_error",
        }
    }


def test_the_client_raises_its_typed_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="model 'nope' not found"):
        oai.chat.completions.create(model="nope", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError, match="too short"):
        oai.chat.completions.create(model="tiny", messages=[])


def test_an_empty_body_is_an_eof_error(emulator: Emulator) -> None:
    response = httpx.post(emulator.url + "/v1/chat/completions", content=b"")
    assert openai_error(response) == (
        400,
        {"message": "EOF", "type": "invalid_request_error", "param": None, "code": None},
    )


# --------------------------------------------------------------------------------------------------
# completions


def test_completion_carries_the_native_answer(oai: openai.OpenAI, native: ollama.Client) -> None:
    completion = oai.completions.create(model="tiny", prompt="Once upon a time", max_tokens=8, seed=1)
    expected = native.generate(
        model="tiny",
        prompt="Once upon a time",
        options={"num_predict": 8, "seed": 1, "temperature": 1, "top_p": 1},
    )
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    (choice,) = completion.choices
    assert choice.text == expected.response
    assert choice.finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 8


def test_completion_stream_zeroes_usage_until_the_usage_chunk(emulator: Emulator) -> None:
    body = {
        "model": "tiny",
        "prompt": "hi",
        "stream": True,
        "max_tokens": 3,
        "stream_options": {"include_usage": True},
    }
    events = sse_events(emulator.post("/v1/completions", body))
    assert all(
        event["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for event in events[:-1]
    )
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 3
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_completion_refuses_a_non_string_stop(emulator: Emulator) -> None:
    response = emulator.post("/v1/completions", {"model": "tiny", "prompt": "x", "stop": ["a", 1]})
    assert openai_error(response)[1]["message"] == "invalid type for 'stop' field: float64"


# --------------------------------------------------------------------------------------------------
# embeddings


def test_embeddings_match_the_native_vectors(oai: openai.OpenAI, native: ollama.Client) -> None:
    answer = oai.embeddings.create(model="tiny-embed", input=["a cat", "a dog"], encoding_format="float")
    expected = native.embed(model="tiny-embed", input=["a cat", "a dog"])
    assert [item.embedding for item in answer.data] == [list(vector) for vector in expected.embeddings]
    assert [item.index for item in answer.data] == [0, 1]
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == expected.prompt_eval_count


def test_base64_embeddings_are_little_endian_float32(emulator: Emulator, native: ollama.Client) -> None:
    body = {"model": "tiny-embed", "input": "a cat", "encoding_format": "base64", "dimensions": 4}
    data = emulator.post("/v1/embeddings", body).json()["data"][0]["embedding"]
    decoded = struct.unpack("<4f", base64.b64decode(data))
    expected = native.embed(model="tiny-embed", input="a cat", dimensions=4).embeddings[0]
    assert decoded == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "tiny-embed", "input": []}, "invalid input"),
        ({"model": "tiny-embed"}, "invalid input"),
        (
            {"model": "tiny-embed", "input": "x", "encoding_format": "int8"},
            "Invalid value for 'encoding_format' = int8. Supported values: ['float', 'base64'].",
        ),
    ],
)
def test_embedding_refusals(emulator: Emulator, body: dict[str, Any], message: str) -> None:
    assert openai_error(emulator.post("/v1/embeddings", body)) == (
        400,
        {"message": message, "type": "invalid_request_error", "param": None, "code": None},
    )


def test_embeddings_of_a_completion_model_relay_llama_server(emulator: Emulator) -> None:
    status, error = openai_error(emulator.post("/v1/embeddings", {"model": "tiny", "input": "x"}))
    assert (status, error["type"]) == (501, "api_error")
    assert error["message"] == "This server does not support embeddings. Start it with `--embeddings`"


# --------------------------------------------------------------------------------------------------
# models


def test_models_list_and_retrieve(oai: openai.OpenAI, native: ollama.Client) -> None:
    listed = oai.models.list()
    assert sorted(model.id for model in listed.data) == [
        "tiny-embed:latest",
        "tiny-think:latest",
        "tiny:latest",
    ]
    assert {model.owned_by for model in listed.data} == {"library"}
    tags = {model.model: model.modified_at for model in native.list().models}
    assert all(model.created == int(tags[model.id].timestamp()) for model in listed.data)  # type: ignore[union-attr]
    retrieved = oai.models.retrieve("tiny")
    assert (retrieved.id, retrieved.object, retrieved.owned_by) == ("tiny", "model", "library")
    with pytest.raises(openai.NotFoundError, match="model 'nope:latest' not found"):
        oai.models.retrieve("nope")


def test_wrong_method_is_ginss_405(emulator: Emulator) -> None:
    response = httpx.get(emulator.url + "/v1/chat/completions")
    assert (response.status_code, response.text, response.headers["allow"]) == (
        405,
        "405 method not allowed",
        "POST",
    )
