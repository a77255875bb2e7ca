"""The emulator's deterministic model: same inputs same tokens, and Ollama's stop, length and format rules."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace

import jsonschema
import pytest
from pydantic import BaseModel

from airflow_provider_ollama.testing.emulator.generation import (
    Chunk,
    FormatError,
    Generation,
    GenerationRequest,
    OutputFormat,
    count_tokens,
    prompt_token_count,
    token_ids,
    tokenize,
)

BASE = GenerationRequest(model_digest="ab" * 32, prompt="user: Why is the sky blue?")


def run(request: GenerationRequest) -> tuple[Generation, list[Chunk]]:
    generation = Generation(request)
    return generation, list(generation.chunks())


def content(chunks: list[Chunk]) -> str:
    return "".join(chunk.content for chunk in chunks)


def test_same_request_gives_the_same_tokens() -> None:
    _, first = run(BASE)
    _, second = run(BASE)
    assert [chunk.content for chunk in first] == [chunk.content for chunk in second]


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},
        {"prompt": "user: Why is grass green?"},
        {"model_digest": "cd" * 32},
        {"output_format": OutputFormat(kind="json")},
    ],
)
def test_each_input_changes_the_output(change: dict[str, object]) -> None:
    assert content(run(BASE)[1]) != content(run(replace(BASE, **change))[1])  # type: ignore[arg-type]


def test_natural_answer_is_readable_sentences_ending_in_stop() -> None:
    generation, chunks = run(BASE)
    text = content(chunks)
    assert generation.done_reason == "stop"
    assert text[0].isupper()
    assert text.endswith(".")
    assert 16 <= generation.eval_count <= 64
    assert generation.eval_count == sum(chunk.tokens for chunk in chunks)


def test_num_predict_cuts_with_reason_length() -> None:
    generation, chunks = run(replace(BASE, num_predict=5))
    assert generation.done_reason == "length"
    assert generation.eval_count == 5
    assert content(chunks) == content(run(BASE)[1])[: len(content(chunks))]


def test_stop_string_cuts_before_it_with_reason_stop() -> None:
    full = content(run(BASE)[1])
    word = full.split()[3]
    generation, chunks = run(replace(BASE, stop=(f" {word}",)))
    assert generation.done_reason == "stop"
    assert content(chunks) == full[: full.index(f" {word}")]


def test_text_that_may_start_a_stop_sequence_is_held_back() -> None:
    full = content(run(BASE)[1])
    words = full.split()
    stop = f" {words[2]} {words[3]}"  # spans two tokens: the first must not be streamed alone
    _, chunks = run(replace(BASE, stop=(stop, "never-seen")))
    assert content(chunks) == full[: full.index(stop)]
    assert all(not chunk.content.endswith(f" {words[2]}") for chunk in chunks)


def test_first_matching_stop_of_a_list_wins() -> None:
    full = content(run(BASE)[1])
    words = full.split()
    _generation, chunks = run(replace(BASE, stop=(f" {words[5]}", f" {words[2]}")))
    assert content(chunks) == full[: full.index(f" {words[2]}")]


def test_json_format_is_a_json_object() -> None:
    _, chunks = run(replace(BASE, output_format=OutputFormat(kind="json")))
    assert isinstance(json.loads(content(chunks)), dict)


class Answer(BaseModel):
    city: str
    population: int
    landmarks: list[str]


def test_schema_format_conforms_to_the_schema() -> None:
    schema = Answer.model_json_schema()
    for seed in range(10):
        _, chunks = run(replace(BASE, seed=seed, output_format=OutputFormat(kind="schema", schema=schema)))
        jsonschema.validate(json.loads(content(chunks)), schema)


@pytest.mark.parametrize("value", [None, "", "json", {"type": "object"}])
def test_accepted_formats(value: object) -> None:
    OutputFormat.parse(value)


@pytest.mark.parametrize(
    ("value", "quoted"), [("X", '"\\"X\\""'), (5, '"5"'), ([1], '"[1]"'), (True, '"true"')]
)
def test_invalid_format_message_is_ollamas(value: object, quoted: str) -> None:
    with pytest.raises(FormatError) as caught:
        OutputFormat.parse(value)
    assert str(caught.value) == f'invalid format: {quoted}; expected "json" or a valid JSON Schema object'


def test_thinking_comes_before_the_answer() -> None:
    _, chunks = run(replace(BASE, think_level="medium"))
    kinds = ["thinking" if chunk.thinking else "content" for chunk in chunks]
    assert kinds == sorted(kinds, key=lambda kind: kind != "thinking")
    assert "".join(chunk.thinking for chunk in chunks)
    assert content(chunks)


def test_no_thinking_unless_asked() -> None:
    _, chunks = run(BASE)
    assert not any(chunk.thinking for chunk in chunks)


def test_higher_think_levels_think_longer() -> None:
    def thinking_tokens(level: str) -> int:
        return count_tokens("".join(chunk.thinking for chunk in run(replace(BASE, think_level=level))[1]))

    assert (
        thinking_tokens("low") < thinking_tokens("medium") < thinking_tokens("high") < thinking_tokens("max")
    )


def test_tool_call_arguments_fit_the_tool_parameters() -> None:
    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"],
    }
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}
    _, chunks = run(replace(BASE, tools=(tool,)))
    calls = [call for chunk in chunks for call in chunk.tool_calls]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    jsonschema.validate(calls[0]["function"]["arguments"], parameters)
    assert content(chunks) == ""


def test_logprobs_cover_every_token_with_the_requested_alternatives() -> None:
    generation, chunks = run(replace(BASE, top_logprobs=3))
    entries = [entry for chunk in chunks for entry in chunk.logprobs]
    assert len(entries) == generation.eval_count
    assert all(len(entry["top_logprobs"]) == 3 and entry["logprob"] < 0 for entry in entries)
    assert "".join(entry["token"] for entry in entries) == content(chunks)


def test_context_ids_cover_the_generated_tokens() -> None:
    generation, _ = run(replace(BASE, num_predict=7))
    assert len(generation.response_token_ids()) == 7


def test_tokenizer_pieces_rebuild_the_text() -> None:
    text = "Hello,   wonderful\tworld 12345 — naïve!\n"
    assert "".join(tokenize(text)) == text
    assert count_tokens(text) == len(token_ids(text))


def test_prompt_tokens_count_system_messages_and_template_overhead() -> None:
    messages = [{"role": "user", "content": "one two three"}]
    without_system = prompt_token_count("", messages)
    assert prompt_token_count("be brief", messages) > without_system > count_tokens("one two three")


def test_streaming_a_long_generation_keeps_memory_flat() -> None:
    request = replace(BASE, length_range=(50_000, 50_000))
    generation = Generation(request)
    tracemalloc.start()
    try:
        for _ in generation.chunks():
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert generation.eval_count == 50_000
    assert peak < 1_000_000, f"peak {peak} bytes while streaming 50k tokens"
