"""OllamaHook (the official ``ollama`` client underneath) on a real model: the emulator's llama.cpp engine
serving SmolLM2-135M-Instruct.

What only real weights show: text that is the model's (the same greedy answer whichever way the prompt
is built), counts in the model's own tokens, JSON that a grammar held to a schema, stop sequences and
num_predict cutting a real stream, a load that /api/ps reports with the runner's size, and embeddings
computed by llama.cpp. One emulator and one model load for the module; each test asks a few tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_ollama.exceptions import OllamaError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from tests.support.real_model import GREEDY, ServedModel, real_model_emulator
from tests.testing.llama.support import smollm2_path, with_metadata

pytestmark = pytest.mark.xdist_group("llama")

TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "account", "other"]},
        "urgent": {"type": "boolean"},
    },
    "required": ["category", "urgent"],
}


@pytest.fixture(scope="module")
def served() -> Iterator[ServedModel]:
    with real_model_emulator() as served:
        yield served


@pytest.fixture(scope="module")
def model(served: ServedModel) -> str:
    return served.name


@pytest.fixture
def hook(served: ServedModel) -> OllamaHook:
    return OllamaHook(base_url=served.emulator.url, timeout=120)


def test_generate_answers_with_the_models_text_in_its_own_tokens(hook: OllamaHook, model: str) -> None:
    raw = hook.generate(model, "The capital of France is", raw=True, options={**GREEDY, "num_predict": 4})
    templated = hook.generate(model, "The capital of France is", options={**GREEDY, "num_predict": 4})

    assert "Paris" in (raw.response or "")
    assert raw.done
    assert raw.context is None  # Ollama returns no context for a raw prompt
    # context: the templated prompt and the answer tokenized again by the model, so the counts in the
    # final object are llama.cpp's own
    assert templated.context is not None
    assert len(templated.context) == (templated.prompt_eval_count or 0) + (templated.eval_count or 0)
    assert (templated.eval_duration or 0) > 0


def test_chat_with_a_system_prompt_is_the_templates_conversation(hook: OllamaHook, model: str) -> None:
    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "What colour is the sky?"},
    ]
    chatml = (
        "<|im_start|>system\nYou answer in one word.<|im_end|>\n"
        "<|im_start|>user\nWhat colour is the sky?<|im_end|>\n<|im_start|>assistant\n"
    )
    options = {**GREEDY, "num_predict": 8}

    chat = hook.chat(model, messages, options=options)
    raw = hook.generate(model, chatml, raw=True, options=options)

    # The request's system prompt replaced the model's own and the template made ChatML of it: the
    # model, given that text directly, says the same thing.
    assert chat.message.role == "assistant"
    assert chat.message.content
    assert chat.message.content == raw.response
    assert chat.prompt_eval_count == raw.prompt_eval_count


def test_a_json_schema_gives_a_valid_instance(hook: OllamaHook, model: str) -> None:
    answer = hook.generate(
        model,
        "Ticket: I was charged twice this month. Triage it.",
        format=TRIAGE_SCHEMA,
        options={**GREEDY, "num_predict": 60},
    )

    assert answer.done_reason == "stop"
    parsed = json.loads(answer.response or "")
    jsonschema.validate(parsed, TRIAGE_SCHEMA)
    assert set(parsed) == {"category", "urgent"}  # the grammar admits no other property


def test_format_json_gives_a_json_object(hook: OllamaHook, model: str) -> None:
    answer = hook.generate(
        model, 'Give {"colour": ...} for the sky.', format="json", options={**GREEDY, "num_predict": 30}
    )

    # Ollama's JSON grammar held the model to one object, which it closed before num_predict ran out.
    assert answer.done_reason == "stop"
    assert isinstance(json.loads(answer.response or ""), dict)


def test_a_stop_sequence_ends_the_answer_before_it(hook: OllamaHook, model: str) -> None:
    options = {**GREEDY, "num_predict": 10}
    free = hook.generate(model, "List three fruits.", options=options).response or ""
    stop = free.split()[2]

    stopped = hook.generate(model, "List three fruits.", options={**options, "stop": [stop]})

    assert stopped.done_reason == "stop"
    assert stop not in (stopped.response or "")
    assert free.startswith((stopped.response or "").rstrip())


def test_num_predict_cuts_the_answer_at_that_many_tokens(hook: OllamaHook, model: str) -> None:
    answer = hook.generate(model, "Tell me about the sea.", options={**GREEDY, "num_predict": 3})

    assert answer.done_reason == "length"
    assert answer.eval_count == 3


def test_streaming_through_the_hooks_client_gives_a_token_per_piece(hook: OllamaHook, model: str) -> None:
    options = {**GREEDY, "num_predict": 6}

    *pieces, final = hook.get_client().generate(model, "Tell me about the sea.", stream=True, options=options)
    whole = hook.generate(model, "Tell me about the sea.", options=options)

    assert len(pieces) == final.eval_count == 6
    assert "".join(piece.response or "" for piece in pieces) == whole.response


def test_keep_alive_and_ps_follow_the_real_load(hook: OllamaHook, model: str) -> None:
    hook.unload(model)
    assert hook.ps() == []

    hook.load(model, keep_alive="7m")

    (running,) = hook.ps()
    assert running.model == model
    assert (running.size or 0) > smollm2_path().stat().st_size  # weights plus KV cache and buffers
    assert running.expires_at is not None
    hook.unload(model)
    assert hook.ps() == []


def test_embeddings_need_a_model_with_a_pooling_type(hook: OllamaHook, model: str, tmp_path: Path) -> None:
    with pytest.raises(OllamaError, match="does not support embeddings"):
        hook.embed(model, "hello")

    # The same weights with a pooling type: llama.cpp computes the vectors (mean of the token states).
    pooled = with_metadata(smollm2_path(), tmp_path / "pooled.gguf", "llama.pooling_type", 1)
    hook.create("smollm2-embed", files={"pooled.gguf": pooled})
    answer = hook.embed("smollm2-embed", ["The sea is blue.", "The sea is blue.", "Tax forms are due."])
    hook.unload("smollm2-embed")

    same, also_same, other = answer.embeddings
    assert len(same) == 576  # SmolLM2-135M's hidden size
    assert math.isclose(sum(value * value for value in same), 1.0, abs_tol=1e-4)
    assert same == also_same
    assert same != other
    assert answer.prompt_eval_count == 3 * 5  # llama-server's token counts summed: five tokens per input
