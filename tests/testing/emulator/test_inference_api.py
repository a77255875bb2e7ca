"""generate, chat, embed, embeddings and ps over HTTP, driven by the official ollama client (sync and async).

Every 200 body is checked against Ollama's OpenAPI description; errors against Ollama's exact status
and text. Each test gets its own emulator (the plugin's factory) on a store the catalogue models were
pulled into from the registry emulator.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jsonschema
import ollama
import pytest
from pydantic import BaseModel

from tests.testing.emulator.conftest import Emulator
from tests.testing.emulator.openapi import validate_response, validate_stream

BUSY = "server busy, please try again.  maximum pending requests exceeded"


@pytest.fixture
def client(emulator: Emulator) -> Iterator[ollama.Client]:
    with ollama.Client(host=emulator.url, timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert (response.status_code, response.json()) == (status, {"error": message})


# --------------------------------------------------------------------------------------------------
# generate


@pytest.mark.smoke
def test_generate_answers_one_validated_object(client: ollama.Client, emulator: Emulator) -> None:
    answer = client.generate(model="tiny", prompt="Why is the sky blue?")
    assert answer.done
    assert answer.done_reason == "stop"
    assert answer.response
    assert answer.eval_count
    assert answer.prompt_eval_count
    assert answer.total_duration
    body = emulator.post(
        "/api/generate", {"model": "tiny", "prompt": "Why is the sky blue?", "stream": False}
    )
    assert body.headers["content-type"] == "application/json; charset=utf-8"
    validate_response("generate", body.json())
    assert body.json()["response"] == answer.response, "same prompt, same answer"


def test_generate_streams_by_default_and_matches_the_single_answer(emulator: Emulator) -> None:
    events = emulator.lines("/api/generate", {"model": "tiny", "prompt": "Why is the sky blue?"})
    validate_stream("generate", events)
    assert [event["done"] for event in events] == [False] * (len(events) - 1) + [True]
    final = events[-1]
    assert final["response"] == ""
    assert final["context"]
    assert final["eval_count"] == len(events) - 1
    whole = emulator.post(
        "/api/generate", {"model": "tiny", "prompt": "Why is the sky blue?", "stream": False}
    )
    assert "".join(event["response"] for event in events) == whole.json()["response"]


def test_generate_streams_through_the_client(client: ollama.Client) -> None:
    parts = list(client.generate(model="tiny", prompt="hello", stream=True, options={"num_predict": 4}))
    assert len(parts) == 5
    assert parts[-1].done_reason == "length"
    assert parts[-1].eval_count == 4


def test_model_field_echoes_the_name_as_sent(client: ollama.Client) -> None:
    assert client.generate(model="TINY:latest", prompt="x").model == "TINY:latest"


def test_seed_and_stop_are_honoured(client: ollama.Client) -> None:
    first = client.generate(model="tiny", prompt="tell me", options={"seed": 7}).response or ""
    assert client.generate(model="tiny", prompt="tell me", options={"seed": 7}).response == first
    assert client.generate(model="tiny", prompt="tell me", options={"seed": 8}).response != first
    stop = " " + first.split()[3]
    cut = client.generate(model="tiny", prompt="tell me", options={"seed": 7, "stop": [stop]})
    assert cut.response == first[: first.index(stop)]
    assert cut.done_reason == "stop"


def test_unknown_options_are_ignored(client: ollama.Client) -> None:
    assert client.generate(model="tiny", prompt="x", options={"mirostat": 2, "no_such_option": "y"}).done


def test_json_format_gives_json(client: ollama.Client) -> None:
    assert isinstance(
        json.loads(client.generate(model="tiny", prompt="x", format="json").response or ""), dict
    )


class Weather(BaseModel):
    city: str
    temperature_c: float
    sunny: bool


def test_schema_format_gives_a_conforming_instance(client: ollama.Client) -> None:
    answer = client.generate(model="tiny", prompt="weather?", format=Weather.model_json_schema())
    Weather.model_validate_json(answer.response or "")


def test_invalid_format_is_a_500_before_output(emulator: Emulator) -> None:
    expected = 'invalid format: "\\"X\\""; expected "json" or a valid JSON Schema object'
    streamed = emulator.post("/api/generate", {"model": "tiny", "prompt": "x", "format": "X"})
    assert_error(streamed, 500, expected)
    assert streamed.headers["content-type"] == "application/json"
    single = emulator.post("/api/generate", {"model": "tiny", "prompt": "x", "format": 5, "stream": False})
    assert_error(single, 500, 'invalid format: "5"; expected "json" or a valid JSON Schema object')


def test_raw_mode_omits_context_and_refuses_a_system_prompt(emulator: Emulator) -> None:
    raw = emulator.post(
        "/api/generate", {"model": "tiny", "prompt": "[INST] x", "raw": True, "stream": False}
    )
    assert "context" not in raw.json()
    refused = emulator.post("/api/generate", {"model": "tiny", "prompt": "x", "raw": True, "system": "s"})
    assert_error(refused, 400, "raw mode does not support template, system, or context")


def test_suffix_needs_the_insert_capability(emulator: Emulator) -> None:
    response = emulator.post("/api/generate", {"model": "tiny", "prompt": "def f(", "suffix": "return x"})
    assert_error(response, 400, "registry.ollama.ai/library/tiny:latest does not support insert")


def test_logprobs_come_with_each_token(emulator: Emulator) -> None:
    body = {"model": "tiny", "prompt": "x", "logprobs": True, "top_logprobs": 2, "stream": False}
    answer = emulator.post("/api/generate", body).json()
    validate_response("generate", answer)
    assert len(answer["logprobs"]) == answer["eval_count"]
    assert all(len(entry["top_logprobs"]) == 2 for entry in answer["logprobs"])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "nope", "prompt": "x"}, 404, "model 'nope' not found"),
        ({"model": "", "prompt": "x"}, 404, "model '' not found"),
        ({"model": "bad name!", "prompt": "x"}, 400, "invalid model name"),
        ({"model": "tiny-embed", "prompt": "x"}, 400, '"tiny-embed" does not support generate'),
        ({"model": "tiny", "prompt": "x", "think": True}, 400, '"tiny" does not support thinking'),
        ({"model": "tiny", "prompt": "x", "top_logprobs": 21}, 400, "top_logprobs must be between 0 and 20"),
        ({"model": "tiny", "prompt": "x", "keep_alive": "300"}, 400, 'time: missing unit in duration "300"'),
        ({"model": "tiny", "prompt": "x", "keep_alive": True}, 400, "Unsupported type: 'bool'"),
        (
            {"model": "tiny", "prompt": "x", "think": "hard"},
            400,
            'invalid think value: "hard" (must be "high", "medium", "low", "max", true, or false)',
        ),
        (
            {"model": "tiny", "prompt": "x", "options": {"num_predict": "5"}},
            500,
            'option "num_predict" must be of type integer',
        ),
        (
            {"model": "tiny", "prompt": "x", "options": {"temperature": True}},
            500,
            'option "temperature" must be of type float32',
        ),
        (
            {"model": "tiny", "prompt": 5},
            400,
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string",
        ),
        ({"model": "tiny", "prompt": "x", "images": ["%%"]}, 400, "illegal base64 data at input byte 0"),
    ],
)
def test_generate_errors_are_ollamas(
    emulator: Emulator, body: dict[str, Any], status: int, message: str
) -> None:
    assert_error(emulator.post("/api/generate", body), status, message)


def test_client_raises_response_error_with_status(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate(model="missing", prompt="x")
    assert (caught.value.status_code, caught.value.error) == (404, "model 'missing' not found")


# --------------------------------------------------------------------------------------------------
# chat


def test_chat_answers_with_a_message(client: ollama.Client, emulator: Emulator) -> None:
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    answer = client.chat(model="tiny", messages=messages)
    assert answer.message.role == "assistant"
    assert answer.message.content
    body = emulator.post("/api/chat", {"model": "tiny", "messages": messages, "stream": False}).json()
    validate_response("chat", body)
    assert body["message"]["content"] == answer.message.content


def test_chat_stream_carries_a_message_in_every_line(emulator: Emulator) -> None:
    events = emulator.lines("/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
    validate_stream("chat", events)
    assert all(event["message"]["role"] == "assistant" for event in events)
    assert events[-1]["message"]["content"] == ""
    assert events[-1]["done_reason"] == "stop"


def test_thinking_model_thinks_by_default_and_not_when_told(client: ollama.Client) -> None:
    messages = [{"role": "user", "content": "plan a trip"}]
    thought = client.chat(model="tiny-think", messages=messages)
    assert thought.message.thinking
    assert thought.message.content
    assert client.chat(model="tiny-think", messages=messages, think=False).message.thinking is None
    levels = client.chat(model="tiny-think", messages=messages, think="high").message.thinking
    assert levels
    assert len(levels) > len(thought.message.thinking)


def test_generate_thinking_streams_thinking_before_the_response(emulator: Emulator) -> None:
    events = emulator.lines("/api/generate", {"model": "tiny-think", "prompt": "plan"})
    validate_stream("generate", events)
    kinds = ["thinking" if event.get("thinking") else "response" for event in events[:-1]]
    assert kinds[0] == "thinking"
    assert kinds == sorted(kinds, key=lambda kind: kind != "thinking")


def test_chat_with_tools_returns_a_tool_call(client: ollama.Client) -> None:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "description": "weather", "parameters": parameters},
    }
    answer = client.chat(
        model="tiny-think",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[tool],
        think=False,
    )
    (call,) = answer.message.tool_calls or []
    assert call.function.name == "get_weather"
    jsonschema.validate(dict(call.function.arguments), parameters)
    follow_up = client.chat(
        model="tiny-think",
        messages=[
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
            {"role": "tool", "content": "12 degrees", "tool_name": "get_weather"},
        ],
        tools=[tool],
        think=False,
    )
    assert follow_up.message.content
    assert not follow_up.message.tool_calls


def test_chat_format_schema(client: ollama.Client) -> None:
    answer = client.chat(
        model="tiny", messages=[{"role": "user", "content": "x"}], format=Weather.model_json_schema()
    )
    Weather.model_validate_json(answer.message.content or "")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "", "messages": []}, 400, "model is required"),
        ({"model": "nope", "messages": []}, 404, "model 'nope' not found"),
        (
            {"model": "tiny-embed", "messages": [{"role": "user", "content": "x"}]},
            400,
            '"tiny-embed" does not support chat',
        ),
        (
            {
                "model": "tiny",
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
            400,
            "registry.ollama.ai/library/tiny:latest does not support tools",
        ),
        (
            {"model": "tiny", "messages": [{"role": "user", "content": 1}]},
            400,
            "json: cannot unmarshal number into Go struct field ChatRequest.messages.content of type string",
        ),
    ],
)
def test_chat_errors_are_ollamas(emulator: Emulator, body: dict[str, Any], status: int, message: str) -> None:
    assert_error(emulator.post("/api/chat", body), status, message)


# --------------------------------------------------------------------------------------------------
# load, unload, keep_alive and ps


def test_empty_prompt_loads_and_keep_alive_zero_unloads(client: ollama.Client, emulator: Emulator) -> None:
    assert client.ps().models == []
    loaded = emulator.post("/api/generate", {"model": "tiny"})
    assert loaded.headers["content-type"] == "application/json; charset=utf-8"
    assert loaded.json()["done_reason"] == "load"
    assert [model.name for model in client.ps().models] == ["tiny:latest"]
    unloaded = client.generate(model="tiny", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert client.ps().models == []


def test_chat_without_messages_loads_and_unloads(client: ollama.Client) -> None:
    loaded = client.chat(model="tiny", messages=[])
    assert (loaded.done_reason, loaded.message.content) == ("load", "")
    assert client.chat(model="tiny", messages=[], keep_alive=0).done_reason == "unload"
    assert client.ps().models == []


def test_keep_alive_is_reflected_in_ps(client: ollama.Client, emulator: Emulator) -> None:
    before = datetime.now(timezone.utc)
    client.generate(model="tiny", prompt="x", keep_alive="10m")
    client.embed(model="tiny-embed", input="x", keep_alive=30)
    models = client.ps().models
    assert [model.name for model in models] == ["tiny:latest", "tiny-embed:latest"], "latest expiry first"
    expires = models[0].expires_at
    assert expires is not None
    assert (
        before + timedelta(minutes=10)
        <= expires
        <= datetime.now(timezone.utc) + timedelta(minutes=10, seconds=1)
    )
    body = httpx.get(emulator.url + "/api/ps").json()
    validate_response("ps", body)
    assert body["models"][0]["size"] > 0
    assert body["models"][0]["context_length"] == 2048


def test_keep_alive_forever(client: ollama.Client) -> None:
    client.generate(model="tiny", keep_alive=-1)
    expires = client.ps().models[0].expires_at
    assert expires is not None
    assert expires.year > 2200


def test_keep_alive_zero_unloads_after_a_request(client: ollama.Client) -> None:
    client.generate(model="tiny", prompt="x", keep_alive=0)
    assert client.ps().models == []


def test_ps_answers_an_empty_list(emulator: Emulator) -> None:
    response = httpx.get(emulator.url + "/api/ps")
    assert response.text == '{"models":[]}'
    validate_response("ps", response.json())


# --------------------------------------------------------------------------------------------------
# embed and embeddings


def test_embed_returns_unit_vectors(client: ollama.Client, emulator: Emulator) -> None:
    answer = client.embed(model="tiny-embed", input=["Why is the sky blue?", "Why is the grass green?"])
    assert [len(vector) for vector in answer.embeddings] == [384, 384]
    for vector in answer.embeddings:
        assert sum(value * value for value in vector) == pytest.approx(1.0, abs=1e-5)
    body = emulator.post("/api/embed", {"model": "tiny-embed", "input": "x", "dimensions": 8}).json()
    validate_response("embed", body)
    assert len(body["embeddings"][0]) == 8
    assert body["prompt_eval_count"] == 3  # "x" and llama-server's [CLS] and [SEP]


def test_embed_empty_input_loads_and_answers_no_vectors(emulator: Emulator) -> None:
    assert emulator.post("/api/embed", {"model": "tiny-embed", "input": []}).json() == {
        "model": "tiny-embed",
        "embeddings": [],
    }
    assert emulator.post("/api/embed", {"model": "tiny-embed", "input": ""}).json()["embeddings"] == []


def test_embed_truncates_long_input_unless_told_not_to(emulator: Emulator) -> None:
    long_text = " ".join(["word"] * 600)  # tiny-embed has num_ctx 512
    truncated = emulator.post("/api/embed", {"model": "tiny-embed", "input": long_text})
    assert truncated.json()["prompt_eval_count"] == 512
    refused = emulator.post("/api/embed", {"model": "tiny-embed", "input": long_text, "truncate": False})
    assert_error(refused, 400, "the input length exceeds the context length")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "tiny-embed", "input": [1, 2]}, 400, "invalid input type"),
        ({"model": "tiny-embed", "input": {"a": 1}}, 400, "invalid input type"),
        ({"model": "nope", "input": "x"}, 404, 'model "nope" not found, try pulling it first'),
        ({"model": "", "input": "x"}, 404, "model '' not found"),
        (
            {"model": "tiny", "input": "x"},
            501,
            "This server does not support embeddings. Start it with `--embeddings`",
        ),
    ],
)
def test_embed_errors_are_ollamas(
    emulator: Emulator, body: dict[str, Any], status: int, message: str
) -> None:
    assert_error(emulator.post("/api/embed", body), status, message)


def test_legacy_embeddings(client: ollama.Client, emulator: Emulator) -> None:
    vector = client.embeddings(model="tiny-embed", prompt="Here is an article about llamas").embedding
    assert len(vector) == 384
    assert client.embeddings(model="tiny-embed", prompt="").embedding == []
    assert_error(emulator.post("/api/embeddings", {"model": "", "prompt": "x"}), 400, "model is required")
    assert_error(
        emulator.post("/api/embeddings", {"model": "nope", "prompt": "x"}),
        404,
        'model "nope" not found, try pulling it first',
    )


# --------------------------------------------------------------------------------------------------
# Async client, performance model, cancellation


@pytest.mark.asyncio
async def test_async_client_generate_chat_and_embed(emulator: Emulator) -> None:
    client = ollama.AsyncClient(host=emulator.url, timeout=30)
    parts = [part async for part in await client.generate(model="tiny", prompt="x", stream=True)]
    assert parts[-1].done
    chat = await client.chat(model="tiny-think", messages=[{"role": "user", "content": "x"}])
    assert chat.message.thinking
    embedded = await client.embed(model="tiny-embed", input="x")
    assert len(embedded.embeddings[0]) == 384


@pytest.mark.asyncio
async def test_64_requests_on_8_slots_take_about_8_latencies(start: Callable[..., Emulator]) -> None:
    latency = 0.1
    emulator = start(num_parallel=8, request_latency_seconds=latency)
    client = ollama.AsyncClient(host=emulator.url, timeout=60)
    await client.generate(model="tiny", keep_alive=-1)  # load first: only the requests are timed
    started = time.monotonic()
    answers = await asyncio.gather(
        *(client.generate(model="tiny", prompt=f"prompt {i}", options={"num_predict": 4}) for i in range(64))
    )
    elapsed = time.monotonic() - started
    assert all(answer.done for answer in answers)
    assert emulator.state.scheduler.stats.peak_active == 8
    # At least 8 rounds of one latency each; and far below one at a time (64 latencies), with room for a
    # loaded machine (CI once took 2.4 s for the ideal 0.8 s).
    assert 6 * latency <= elapsed < 64 * latency / 2, f"64 requests on 8 slots took {elapsed:.2f}s"


@pytest.mark.asyncio
async def test_requests_to_a_loaded_busy_model_wait_instead_of_503(start: Callable[..., Emulator]) -> None:
    emulator = start(num_parallel=1, max_queue=1, request_latency_seconds=0.1)
    client = ollama.AsyncClient(host=emulator.url, timeout=30)
    await client.generate(model="tiny", prompt="load")
    results = await asyncio.gather(*(client.generate(model="tiny", prompt="x") for _ in range(4)))
    assert all(result.done for result in results)
    assert emulator.state.scheduler.stats.rejected == 0


@pytest.mark.asyncio
async def test_full_load_queue_answers_503(start: Callable[..., Emulator]) -> None:
    emulator = start(num_parallel=1, max_queue=1, max_loaded_models=1, request_latency_seconds=0.5)
    client = ollama.AsyncClient(host=emulator.url, timeout=30)
    await client.generate(model="tiny", prompt="load")
    busy = asyncio.ensure_future(client.generate(model="tiny", prompt="keeps tiny busy"))
    results = await asyncio.gather(
        *(client.generate(model="tiny-think", prompt="x", think=False) for _ in range(3)),
        return_exceptions=True,
    )
    await busy
    errors = [result for result in results if isinstance(result, ollama.ResponseError)]
    assert [(error.status_code, error.error) for error in errors] == [(503, BUSY)]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling the server's counters under a deadline


@pytest.mark.parametrize("stream", [True, False])
def test_client_giving_up_frees_its_slot(start: Callable[..., Emulator], stream: bool) -> None:
    emulator = start(request_latency_seconds=30)
    stats = emulator.state.scheduler.stats
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            emulator.url + "/api/generate",
            json={"model": "tiny", "prompt": "x", "stream": stream},
            timeout=0.5,
        )
    assert stats.peak_active == 1
    wait_for(lambda: stats.active == 0 and stats.pending == 0, "the abandoned request to free its slot")


def test_closing_a_stream_mid_generation_frees_its_slot(start: Callable[..., Emulator]) -> None:
    emulator = start(tokens_per_second=5)
    stats = emulator.state.scheduler.stats
    body = {"model": "tiny", "prompt": "x", "options": {"num_predict": 500}}
    with httpx.stream("POST", emulator.url + "/api/generate", json=body, timeout=30) as response:
        lines = response.iter_lines()  # kept: a dropped line iterator closes the response
        assert json.loads(next(lines))["done"] is False
        assert stats.active == 1
    wait_for(lambda: stats.active == 0, "the closed stream to free its slot")


def test_tokens_per_second_paces_the_stream(start: Callable[..., Emulator]) -> None:
    emulator = start(tokens_per_second=50, first_token_seconds=0.2)
    started = time.monotonic()
    answer = emulator.post(
        "/api/generate", {"model": "tiny", "prompt": "x", "stream": False, "options": {"num_predict": 10}}
    ).json()
    elapsed = time.monotonic() - started
    assert 0.2 + 10 / 50 - 0.05 <= elapsed < 5
    assert answer["prompt_eval_duration"] >= 0.19e9
    assert answer["eval_duration"] >= 0.15e9
