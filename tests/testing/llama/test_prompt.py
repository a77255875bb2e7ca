"""Prompts as Ollama renders them: SmolLM2's template, legacy templates, truncation to num_ctx."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.testing.emulator.llama.prompt import (
    PromptTemplate,
    chat_messages,
    fitted_prompt,
    generate_messages,
)
from airflow_provider_ollama.testing.registry.catalogue import TINY
from airflow_provider_ollama.testing.registry.real_models import SMOLLM2_SYSTEM, SMOLLM2_TEMPLATE

SMOLLM2 = PromptTemplate(SMOLLM2_TEMPLATE)


def test_a_generate_prompt_has_the_models_system_and_the_user_turn() -> None:
    prompt = SMOLLM2.render(generate_messages("Hi", model_system=SMOLLM2_SYSTEM))

    assert prompt == (
        f"<|im_start|>system\n{SMOLLM2_SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_a_conversation_with_a_tool_call_and_its_result() -> None:
    messages = chat_messages(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "w", "arguments": {"c": "P"}}}],
            },
            {"role": "tool", "content": "sunny"},
        ]
    )

    prompt = SMOLLM2.render(messages)

    assert '<tool_call>\n{"name": "w", "arguments": {"c":"P"}}\n</tool_call><|im_end|>' in prompt
    assert prompt.endswith("<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_consecutive_messages_of_one_role_are_merged() -> None:
    prompt = SMOLLM2.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])

    assert "<|im_start|>user\na\n\nb<|im_end|>" in prompt


def test_a_request_system_message_replaces_the_models() -> None:
    messages = chat_messages([{"role": "system", "content": "Be brief."}], model_system=SMOLLM2_SYSTEM)

    assert messages == [{"role": "system", "content": "Be brief."}]
    assert chat_messages([{"role": "user", "content": "x"}], model_system="S")[0] == {
        "role": "system",
        "content": "S",
    }


def test_a_legacy_template_runs_per_exchange_and_ends_at_the_answer() -> None:
    template = PromptTemplate(TINY.template or "")

    prompt = template.render(
        [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
        ]
    )

    assert prompt == "<|user|>\nq1</s>\n<|assistant|>\na1</s>\n<|user|>\nq2</s>\n<|assistant|>\n"


def test_a_template_without_response_gets_one_appended() -> None:
    assert PromptTemplate("{{ .System }}:{{ .Prompt }}").render(generate_messages("p", system="s")) == "s:p"


@pytest.mark.asyncio
async def test_a_chat_too_long_for_num_ctx_loses_its_oldest_messages_but_no_system_one() -> None:
    async def tokenize(text: str) -> list[int]:
        return list(range(len(text.split())))

    messages = [
        {"role": "system", "content": "rules"},
        *(
            {"role": role, "content": f"message {n} " + "word " * 20}
            for n, role in enumerate(["user", "assistant"] * 3)
        ),
        {"role": "user", "content": "last"},
    ]

    prompt = await fitted_prompt(SMOLLM2, messages, num_ctx=60, tokenize=tokenize)

    assert prompt.startswith("<|im_start|>system\nrules<|im_end|>")
    assert "message 0" not in prompt
    assert "message 5" in prompt
    assert len(prompt.split()) <= 60
    assert prompt.endswith("<|im_start|>user\nlast<|im_end|>\n<|im_start|>assistant\n")
