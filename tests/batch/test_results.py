"""Records built from the client's responses: JSON-native fields, thinking, tool calls, tokens per second."""

from __future__ import annotations

import json

import pytest
from ollama import ChatResponse, EmbedResponse, GenerateResponse, Message

from airflow_provider_ollama.batch.formats import ResponseParser
from airflow_provider_ollama.batch.results import (
    chat_record,
    embedding_records,
    error_record,
    generation_record,
    tokens_per_second,
)

PLAIN = ResponseParser(None)


def test_a_generation_record_is_json_native_and_keeps_thinking() -> None:
    response = GenerateResponse(
        model="tiny",
        response="hi",
        thinking="hmm",
        done=True,
        done_reason="length",
        prompt_eval_count=4,
        eval_count=8,
        total_duration=9,
        eval_duration=4_000_000_000,
        context=[1, 2, 3],
    )

    record = generation_record(5, response, PLAIN)

    assert json.loads(json.dumps(record)) == record
    assert record["thinking"] == "hmm"
    assert record["tokens_per_second"] == 2.0
    assert record["load_duration"] == 0
    assert "context" not in record


def test_thinking_is_left_out_when_there_is_none() -> None:
    record = generation_record(0, GenerateResponse(response="x", done=True), PLAIN)
    assert "thinking" not in record
    assert record["tokens_per_second"] is None


def test_a_chat_record_parses_the_content_with_the_format() -> None:
    response = ChatResponse(message=Message(role="assistant", content='{"a": 1}'), done=True)
    assert chat_record(0, response, ResponseParser("json"))["response"] == {"a": 1}


def test_embeddings_are_matched_to_their_indices() -> None:
    response = EmbedResponse(embeddings=[[0.6, 0.8], [1.0, 0.0]])
    assert embedding_records([4, 9], response) == [
        {"index": 4, "embedding": [0.6, 0.8]},
        {"index": 9, "embedding": [1.0, 0.0]},
    ]


def test_a_short_embedding_answer_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 1 embeddings for 2 inputs"):
        embedding_records([0, 1], EmbedResponse(embeddings=[[1.0]]))


def test_an_error_record_names_the_exception_type() -> None:
    assert error_record(3, KeyError("x"), 2) == {
        "index": 3,
        "error": "KeyError",
        "message": "'x'",
        "attempts": 2,
    }


def test_tokens_per_second_rounds_and_handles_a_missing_duration() -> None:
    assert tokens_per_second(10, 3_000_000_000) == 3.33
    assert tokens_per_second(10, 0) is None
