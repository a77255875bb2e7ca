"""``POST /v1/responses`` (OpenAI's Responses API) over the chat engine, driven by the official
``openai`` client and by raw HTTP (middleware/openai.go ``ResponsesMiddleware``, openai/responses.go)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.sse import sse_events
from tests.testing.emulator.conftest import Emulator

QUESTION = "Why is the sky blue?"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def oai(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emulator.url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def test_response_carries_the_native_chat_answer(oai: openai.OpenAI, emulator: Emulator) -> None:
    response = oai.responses.create(model="tiny", input=QUESTION, temperature=0, max_output_tokens=40)
    native = emulator.post(
        "/api/chat",
        {
            "model": "tiny",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": False,
            "options": {"temperature": 0, "num_predict": 40},
        },
    ).json()
    assert re.fullmatch(r"resp_\d+", response.id)
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == native["message"]["content"]
    (item,) = response.output
    assert item.type == "message"
    assert re.fullmatch(r"msg_\d+", item.id)
    assert response.usage is not None
    assert response.usage.input_tokens == native["prompt_eval_count"]
    assert response.usage.output_tokens == native["eval_count"]
    assert response.max_output_tokens == 40


def test_response_object_has_gos_field_order_and_defaults(emulator: Emulator) -> None:
    body = emulator.post(
        "/v1/responses", {"model": "tiny", "input": QUESTION, "instructions": "Be brief."}
    ).json()
    assert list(body)[:6] == ["id", "object", "created_at", "completed_at", "status", "incomplete_details"]
    assert body["instructions"] == "Be brief."
    assert (body["tool_choice"], body["truncation"], body["temperature"], body["top_p"]) == (
        "auto",
        "disabled",
        1.0,
        1.0,
    )
    assert body["text"] == {"format": {"type": "text"}}
    assert body["tools"] == []
    assert body["reasoning"] is None
    assert isinstance(body["completed_at"], int)


def test_stream_events_through_the_client(oai: openai.OpenAI) -> None:
    kinds = [event.type for event in oai.responses.create(model="tiny", input=QUESTION, stream=True)]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in kinds
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_stream_objects_are_go_maps_with_sequence_numbers(emulator: Emulator) -> None:
    events = sse_events(emulator.post("/v1/responses", {"model": "tiny", "input": QUESTION, "stream": True}))
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    for kind, data in events:
        assert data["type"] == kind
        assert list(data) == sorted(data)  # Go encodes map[string]any with sorted keys
    completed = events[-1][1]["response"]
    text = "".join(data["delta"] for kind, data in events if kind == "response.output_text.delta")
    assert completed["output"][0]["content"][0]["text"] == text
    assert (
        completed["usage"]["total_tokens"]
        == completed["usage"]["input_tokens"] + completed["usage"]["output_tokens"]
    )


def test_reasoning_comes_first_as_a_summary(oai: openai.OpenAI, emulator: Emulator) -> None:
    response = oai.responses.create(model="tiny-think", input=QUESTION, reasoning={"effort": "low"})
    assert [item.type for item in response.output] == ["reasoning", "message"]
    events = sse_events(
        emulator.post("/v1/responses", {"model": "tiny-think", "input": QUESTION, "stream": True})
    )
    kinds = [kind for kind, _ in events]
    assert kinds[2] == "response.output_item.added"
    assert events[2][1]["item"]["type"] == "reasoning"
    assert "response.reasoning_summary_text.done" in kinds
    assert kinds.index("response.reasoning_summary_text.done") < kinds.index("response.output_text.delta")


def test_function_calls_and_their_outputs(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="tiny-think", input="weather in Paris?", tools=[WEATHER])
    calls = [item for item in response.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert "city" in json.loads(call.arguments)
    follow_up: Any = [
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
    ]
    assert oai.responses.create(model="tiny-think", input=follow_up).status == "completed"


def test_json_schema_text_format(oai: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    text: Any = {"format": {"type": "json_schema", "name": "a", "schema": schema}}
    response = oai.responses.create(model="tiny", input=QUESTION, text=text)
    assert isinstance(json.loads(response.output_text)["answer"], int)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "tiny", "input": [{"type": "bogus"}]}, 400, 'input[0]: unknown input item type: "bogus"'),
        (
            {"model": "tiny", "input": [{"content": "x"}]},
            400,
            "input[0]: input item missing required 'type' field",
        ),
        (
            {"model": "tiny", "input": [{"role": "user", "content": [{"type": "x"}]}]},
            400,
            "input[0]: content[0]: unknown content type: x",
        ),
        (
            {"model": "tiny", "input": "hi", "reasoning": {"effort": "huge"}},
            400,
            'invalid reasoning value: "huge" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")',
        ),
        ({"model": "nope", "input": "hi"}, 404, "model 'nope' not found"),
    ],
)
def test_errors_are_openai_error_objects(
    emulator: Emulator, body: dict[str, Any], status: int, message: str
) -> None:
    response = emulator.post("/v1/responses", body)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message


def test_client_raises_its_typed_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model="nope", input=QUESTION)
