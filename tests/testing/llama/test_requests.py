"""The /completion body Ollama sends llama-server: defaults, options, formats and budgets."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.testing.emulator.llama.requests import (
    JSON_GRAMMAR,
    InvalidFormat,
    completion_request,
    strict_objects,
)


def test_left_out_options_take_ollamas_defaults() -> None:
    body = completion_request("p", {}, num_ctx=2048)

    assert body == {
        "prompt": "p",
        "stream": True,
        "cache_prompt": False,  # unlike Ollama: answers must not depend on the slot's previous prompt
        "n_predict": 20480,  # -1: ten contexts
        "n_keep": 4,
        "temperature": 0.8,
        "top_k": 40,
        "top_p": 0.9,
        "min_p": 0.0,
        "repeat_penalty": 1.0,
        "repeat_last_n": 64,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
        "typical_p": 1.0,
        "seed": -1,
    }


def test_request_options_are_passed_on() -> None:
    options = {
        "temperature": 0,
        "seed": 7,
        "top_k": 3,
        "num_predict": 5,
        "stop": ["\n"],
        "repeat_penalty": 1.3,
    }

    body = completion_request("p", options, num_ctx=512)

    assert (body["temperature"], body["seed"], body["top_k"], body["n_predict"]) == (0.0, 7, 3, 5)
    assert (body["stop"], body["repeat_penalty"]) == (["\n"], 1.3)


def test_formats_become_grammars() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}}

    assert completion_request("p", {}, num_ctx=1, format="json")["grammar"] == JSON_GRAMMAR
    assert completion_request("p", {}, num_ctx=1, format=schema)["json_schema"] == {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {}, "additionalProperties": False}},
        "additionalProperties": False,
    }
    with pytest.raises(InvalidFormat, match='expected "json" or a valid JSON Schema object'):
        completion_request("p", {}, num_ctx=1, format="yaml")


def test_a_schema_that_allows_extra_properties_keeps_them() -> None:
    assert strict_objects({"type": "object", "additionalProperties": True}) == {
        "type": "object",
        "additionalProperties": True,
    }


def test_logprobs_ask_for_token_probabilities() -> None:
    assert completion_request("p", {}, num_ctx=1, logprobs=True, top_logprobs=3)["n_probs"] == 3
