"""The llama.cpp engine on a real model (SmolLM2-135M-Instruct): what only real weights give.

Each test asks for a few tokens: the model runs at 10-40 tokens a second on two shared cores.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import jsonschema
import pytest

from airflow_provider_ollama.testing.emulator.llama import Answer, LlamaModel, RunnerError
from airflow_provider_ollama.testing.emulator.llama.prompt import chat_messages, generate_messages

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("llama")]

GREEDY = {"temperature": 0, "seed": 42}
TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "outage", "account", "other"]},
        "urgent": {"type": "boolean"},
    },
    "required": ["category", "urgent"],
}


async def _collect(answers: AsyncIterator[Answer]) -> tuple[list[Answer], Answer]:
    pieces = [answer async for answer in answers]
    assert pieces
    assert pieces[-1].done
    assert not any(piece.done for piece in pieces[:-1])
    return pieces[:-1], pieces[-1]


def _text(pieces: list[Answer], final: Answer) -> str:
    return "".join(piece.content for piece in pieces) + final.content


async def test_the_same_seed_at_temperature_zero_gives_the_same_answer(smollm2: LlamaModel) -> None:
    options = {**GREEDY, "num_predict": 6}
    first = _text(*await _collect(smollm2.generate("Name a colour.", options=options)))
    second = _text(*await _collect(smollm2.generate("Name a colour.", options=options)))

    assert first == second
    assert first.strip()


async def test_answers_stream_token_by_token_with_real_counts(smollm2: LlamaModel) -> None:
    pieces, final = await _collect(smollm2.generate("Count to five.", options={**GREEDY, "num_predict": 5}))

    assert final.done_reason == "length"
    assert final.eval_count == 5
    assert len(pieces) == 5  # one chunk per token, as llama-server streams them
    assert final.eval_duration_ns > 0
    assert final.prompt_eval_duration_ns > 0
    assert final.total_duration_ns >= final.eval_duration_ns


async def test_prompt_eval_count_is_the_rendered_prompt_in_the_models_tokens(smollm2: LlamaModel) -> None:
    messages = generate_messages("Say hi.", model_system=smollm2.spec.system)
    rendered = smollm2.template.render(messages)

    _, final = await _collect(smollm2.generate("Say hi.", options={**GREEDY, "num_predict": 1}))

    assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert rendered.endswith("<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n")
    assert final.prompt_eval_count == len(await smollm2.tokenize(rendered))


async def test_context_holds_the_prompt_and_answer_tokens(smollm2: LlamaModel) -> None:
    pieces, final = await _collect(smollm2.generate("Say hi.", options={**GREEDY, "num_predict": 3}))
    rendered = smollm2.template.render(generate_messages("Say hi.", model_system=smollm2.spec.system))

    assert list(final.context) == await smollm2.tokenize(rendered + _text(pieces, final))


async def test_raw_sends_the_prompt_as_it_is(smollm2: LlamaModel) -> None:
    prompt = "The capital of France is"

    pieces, final = await _collect(smollm2.generate(prompt, raw=True, options={**GREEDY, "num_predict": 2}))

    assert final.prompt_eval_count == len(await smollm2.tokenize(prompt))
    assert "Paris" in _text(pieces, final)


async def test_a_system_prompt_replaces_the_models_own(smollm2: LlamaModel) -> None:
    messages = chat_messages(
        [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi"}]
    )

    _, final = await _collect(smollm2.chat(messages, options={**GREEDY, "num_predict": 1}))

    rendered = smollm2.template.render(messages)
    assert "SmolLM" not in rendered
    assert final.prompt_eval_count == len(await smollm2.tokenize(rendered))


async def test_a_stop_sequence_ends_the_answer_before_it(smollm2: LlamaModel) -> None:
    options = {**GREEDY, "num_predict": 8}
    free = _text(*await _collect(smollm2.generate("List three fruits.", options=options)))
    stop = free.split()[2]

    pieces, final = await _collect(
        smollm2.generate("List three fruits.", options={**options, "stop": [stop]})
    )

    text = _text(pieces, final)
    assert final.done_reason == "stop"
    assert stop not in text
    assert free.startswith(text.rstrip())


async def test_a_json_schema_format_gives_an_instance_of_the_schema(smollm2: LlamaModel) -> None:
    messages = [{"role": "user", "content": "Ticket: the database is down, nobody can log in. Triage it."}]

    pieces, final = await _collect(
        smollm2.chat(messages, format=TICKET_SCHEMA, options={**GREEDY, "num_predict": 40})
    )

    answer = json.loads(_text(pieces, final))
    jsonschema.validate(answer, TICKET_SCHEMA)
    assert set(answer) == {"category", "urgent"}  # no property the schema does not list
    assert final.done_reason == "stop"


async def test_format_json_gives_a_json_object(smollm2: LlamaModel) -> None:
    pieces, final = await _collect(
        smollm2.generate("Describe a cat as JSON.", format="json", options={**GREEDY, "num_predict": 30})
    )

    text = _text(pieces, final)
    if final.done_reason == "stop":
        assert isinstance(json.loads(text), dict)
    else:  # cut by num_predict: still the start of an object
        assert text.lstrip().startswith("{")


async def test_tools_are_rendered_into_the_prompt(smollm2: LlamaModel) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages = chat_messages(
        [{"role": "user", "content": "Weather in Paris?"}], model_system=smollm2.spec.system
    )

    _, final = await _collect(smollm2.chat(messages, tools=tools, options={**GREEDY, "num_predict": 2}))

    rendered = smollm2.template.render(messages, tools=tools)
    assert '{"type":"function","function":{"name":"get_weather"' in rendered
    assert final.prompt_eval_count == len(await smollm2.tokenize(rendered))


async def test_size_is_what_llama_cpp_allocated(smollm2: LlamaModel) -> None:
    file_size = smollm2.spec.path.stat().st_size

    # weights (mapped), KV cache for 1024 tokens and compute buffers, from the runner's log
    assert file_size * 0.9 < smollm2.size < file_size * 3


async def test_thinking_is_split_off_when_the_template_opens_it(smollm2: LlamaModel) -> None:
    # A template that prints .Thinking between tags and ends the prompt inside the opening tag:
    # everything the model writes until it closes the tag is thinking.
    template = (
        "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
        "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n<think>"
    )
    thinker = LlamaModel(replace(smollm2.spec, template=template), smollm2.runner, smollm2.num_ctx)
    messages = [{"role": "user", "content": "What is 2+2?"}]

    pieces, final = await _collect(thinker.chat(messages, think=True, options={**GREEDY, "num_predict": 4}))

    assert thinker.thinking_tags == ("<think>", "</think>")
    assert "".join(piece.thinking for piece in [*pieces, final]).strip()
    assert all(not piece.content for piece in pieces)


async def test_embeddings_of_a_model_without_pooling_are_llama_servers_501(smollm2: LlamaModel) -> None:
    # Ollama 0.33 schedules /api/embed on any model and passes llama-server's answer on.
    with pytest.raises(RunnerError) as refused:
        await smollm2.embed("hi")

    assert refused.value.status_code == 501
    assert refused.value.message == "This server does not support embeddings. Start it with `--embeddings`"
