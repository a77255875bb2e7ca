"""The engine's small parts: which engine a file gets, the runner's log, tool calls and thinking."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.emulator.llama.gotemplate import Template
from airflow_provider_ollama.testing.emulator.llama.runner_log import RunnerLog
from airflow_provider_ollama.testing.emulator.llama.thinking import ThinkingSplitter, infer_tags
from airflow_provider_ollama.testing.emulator.llama.tools import ToolCallReader, tool_call_tag
from airflow_provider_ollama.testing.emulator.llama.weights import (
    LLAMA,
    SYNTHETIC,
    choose_engine,
    has_real_weights,
)
from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF
from airflow_provider_ollama.testing.registry.catalogue import TINY_THINK
from airflow_provider_ollama.testing.registry.real_models import SMOLLM2_TEMPLATE


def test_a_synthetic_gguf_keeps_the_deterministic_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = SyntheticGGUF(GGUFSpec()).write_to(tmp_path / "model.gguf")

    with caplog.at_level(logging.INFO):
        choice = choose_engine(path, "tiny:latest")

    assert choice.engine == SYNTHETIC
    assert "header-only" in choice.reason
    assert [record.getMessage() for record in caplog.records] == [
        f"engine for tiny:latest: synthetic ({choice.reason})"
    ]


def test_real_weights_get_llama_cpp(smollm2_gguf: Path) -> None:
    real, why = has_real_weights(smollm2_gguf)

    assert real, why
    assert why == "272 tensors for 30 blocks of llama"
    assert choose_engine(smollm2_gguf, "smollm2:135m").engine == LLAMA


def test_a_file_that_is_not_gguf_is_not_real_weights(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"not a model")

    assert has_real_weights(tmp_path / "x")[0] is False


def test_the_runner_log_keeps_error_lines_and_sums_buffers() -> None:
    log = RunnerLog()
    for line in [
        "0.01 I load_tensors:   CPU_Mapped model buffer size =    92.10 MiB",
        "0.02 I llama_kv_cache:        CPU KV buffer size =    45.00 MiB",
        "0.03 E llama_model_load: error loading model: tensor 'x' data is not within the file bounds",
        "0.04 I nothing to see",
    ]:
        log.feed(line)

    assert log.last_error == "error loading model: tensor 'x' data is not within the file bounds"
    assert log.allocated_bytes == int(92.10 * (1 << 20)) + 45 * (1 << 20)


def test_tool_calls_are_read_between_the_templates_tags() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    reader = ToolCallReader(tool_call_tag(SMOLLM2_TEMPLATE), tools)

    assert reader.tag == "<tool_call>"
    assert reader.could_be_call("  <tool_")
    assert not reader.could_be_call("The weather")
    assert reader.calls(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    ) == [{"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert reader.calls('<tool_call>{"name": "unknown", "arguments": {}}</tool_call>') == []


def test_thinking_tags_come_from_where_the_template_prints_thinking() -> None:
    assert infer_tags(Template(TINY_THINK.template or "").nodes) == ("<think>", "</think>")
    assert infer_tags(Template(SMOLLM2_TEMPLATE).nodes) == ("", "")
    # .Thinking in a range over something else is not the message's thinking
    nested = "{{ range .Messages }}{{ range .ToolCalls }}<t>{{ .Thinking }}</t>{{ end }}{{ end }}"
    assert infer_tags(Template(nested).nodes) == ("", "")


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["<think>", "\nhm", "m</th", "ink>\n\n", "Hello"], ("hmm", "Hello")),
        (["  <thi", "nk>a</think>b"], ("a", "b")),
        (["Hello <think>"], ("", "Hello <think>")),  # no opening tag first: all content
        (["<th", "at is all"], ("", "<that is all")),
    ],
)
def test_thinking_is_split_off_as_pieces_arrive(pieces: list[str], expected: tuple[str, str]) -> None:
    splitter = ThinkingSplitter("<think>", "</think>")
    results = [splitter.add(piece) for piece in pieces]

    assert ("".join(t for t, _ in results), "".join(c for _, c in results)) == expected


def test_a_prompt_ending_in_the_opening_tag_starts_inside_the_thinking() -> None:
    splitter = ThinkingSplitter("<think>", "</think>")
    splitter.add("<think>")

    assert splitter.add("idea</think>answer") == ("idea", "answer")
