"""``POST /v1/messages``: Ollama's Anthropic-compatible route (middleware/anthropic.go,
anthropic/anthropic.go) over the same chat engine as ``/api/chat``, by raw HTTP."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.support.sse import sse_events
from tests.testing.emulator.conftest import Emulator

MESSAGES: Any = [{"role": "user", "content": "Why is the sky blue?"}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_message_carries_the_native_chat_answer(emulator: Emulator) -> None:
    body = {"model": "tiny", "max_tokens": 64, "messages": MESSAGES, "temperature": 0}
    answer = emulator.post("/v1/messages", body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    message = answer.json()
    native = emulator.post(
        "/api/chat",
        {
            "model": "tiny",
            "messages": MESSAGES,
            "stream": False,
            "options": {"num_predict": 64, "temperature": 0},
        },
    ).json()
    assert re.fullmatch(r"msg_[0-9a-f]{24}", message["id"])
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", "tiny")
    assert message["content"] == [{"type": "text", "text": native["message"]["content"]}]
    assert message["stop_reason"] == {"stop": "end_turn", "length": "max_tokens"}[native["done_reason"]]
    assert message["usage"] == {
        "input_tokens": native["prompt_eval_count"],
        "output_tokens": native["eval_count"],
    }
    assert list(message) == ["id", "type", "role", "model", "content", "stop_reason", "usage"]


def test_max_tokens_limits_the_answer(emulator: Emulator) -> None:
    message = emulator.post("/v1/messages", {"model": "tiny", "max_tokens": 2, "messages": MESSAGES}).json()
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 2


def test_stream_has_anthropics_event_sequence(emulator: Emulator) -> None:
    body = {"model": "tiny", "max_tokens": 32, "messages": MESSAGES, "stream": True}
    events = sse_events(emulator.post("/v1/messages", body))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["usage"]["output_tokens"] == 0
    assert start["usage"]["input_tokens"] >= 1  # estimated from the request until the model counts
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    text = "".join(data["delta"]["text"] for kind, data in events if kind == "content_block_delta")
    final = emulator.post("/v1/messages", {**body, "stream": False, "temperature": 0}).json()
    assert text
    assert final["content"][0]["text"]
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    assert delta["usage"]["output_tokens"] >= 1


def test_thinking_model_answers_with_a_thinking_block_first(emulator: Emulator) -> None:
    body = {"model": "tiny-think", "max_tokens": 256, "messages": MESSAGES, "thinking": {"type": "enabled"}}
    message = emulator.post("/v1/messages", body).json()
    assert [block["type"] for block in message["content"]] == ["thinking", "text"]
    events = sse_events(emulator.post("/v1/messages", {**body, "stream": True}))
    starts = [data["content_block"]["type"] for kind, data in events if kind == "content_block_start"]
    assert starts == ["thinking", "text"]
    indexes = [data["index"] for kind, data in events if kind == "content_block_stop"]
    assert indexes == [0, 1]


def test_thinking_is_relaxed_for_a_model_that_cannot_think(emulator: Emulator) -> None:
    body = {"model": "tiny", "max_tokens": 16, "messages": MESSAGES, "thinking": {"type": "enabled"}}
    assert emulator.post("/v1/messages", body).status_code == 200
    native = emulator.post(
        "/api/chat", {"model": "tiny", "messages": MESSAGES, "think": True, "stream": False}
    )
    assert native.status_code == 400


def test_tool_use_blocks_and_stop_reason(emulator: Emulator) -> None:
    question = [{"role": "user", "content": "weather in Paris?"}]
    body = {"model": "tiny-think", "max_tokens": 256, "messages": question, "tools": [WEATHER_TOOL]}
    message = emulator.post("/v1/messages", body).json()
    assert message["stop_reason"] == "tool_use"
    (call,) = [block for block in message["content"] if block["type"] == "tool_use"]
    assert call["name"] == "get_weather"
    assert "city" in call["input"]
    events = sse_events(emulator.post("/v1/messages", {**body, "stream": True}))
    (start,) = [
        data
        for kind, data in events
        if kind == "content_block_start" and data["content_block"]["type"] == "tool_use"
    ]
    assert start["content_block"]["input"] == {}
    partial = [
        data["delta"]["partial_json"]
        for kind, data in events
        if data.get("delta", {}).get("type") == "input_json_delta"
    ]
    assert "city" in json.loads(partial[0])
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    # The tool's answer goes back as a tool_result block.
    follow_up = [
        *question,
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": call["input"]}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "Sunny"}]},
    ]
    assert emulator.post("/v1/messages", {**body, "messages": follow_up}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({"max_tokens": 5, "messages": MESSAGES}, 400, "invalid_request_error", "model is required"),
        (
            {"model": "tiny", "messages": MESSAGES},
            400,
            "invalid_request_error",
            "max_tokens is required and must be positive",
        ),
        ({"model": "tiny", "max_tokens": 5}, 400, "invalid_request_error", "messages is required"),
        (
            {
                "model": "tiny",
                "max_tokens": 5,
                "messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}],
            },
            400,
            "invalid_request_error",
            "tool_use block missing required 'id' field",
        ),
        (
            {
                "model": "tiny",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}
                ],
            },
            400,
            "invalid_request_error",
            "invalid image source type: url. Only base64 images are supported.",
        ),
        (
            {"model": "nope", "max_tokens": 5, "messages": MESSAGES},
            404,
            "not_found_error",
            "model 'nope' not found",
        ),
        (
            {"model": "tiny-embed", "max_tokens": 5, "messages": MESSAGES},
            400,
            "invalid_request_error",
            '"tiny-embed" does not support chat',
        ),
    ],
)
def test_errors_are_anthropic_error_objects(
    emulator: Emulator, body: dict[str, Any], status: int, kind: str, message: str
) -> None:
    response = emulator.post("/v1/messages", body)
    assert response.status_code == status
    error = response.json()
    assert error["type"] == "error"
    assert error["error"] == {"type": kind, "message": message}
    assert re.fullmatch(r"req_[0-9a-f]{24}", error["request_id"])


def test_malformed_body_is_a_middleware_400(emulator: Emulator) -> None:
    response = httpx.post(emulator.url + "/v1/messages", content=b"{", timeout=10)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == {"type": "invalid_request_error", "message": "unexpected EOF"}


def test_cloud_model_goes_to_the_unreachable_cloud(emulator: Emulator) -> None:
    response = emulator.post(
        "/v1/messages", {"model": "gpt-oss:20b-cloud", "max_tokens": 5, "messages": MESSAGES}
    )
    assert response.status_code == 502
    assert response.json() == {
        "error": 'Post "https://ollama.com:443/v1/messages": dial tcp: lookup ollama.com: no such host'
    }
