"""Model names parse, validate and display the way Ollama's own name rules do."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from airflow_provider_ollama.names import InvalidModelNameError, ModelName


@pytest.mark.parametrize(
    ("text", "expected", "shortest"),
    [
        ("llama3.2", "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("llama3.2:1b", "registry.ollama.ai/library/llama3.2:1b", "llama3.2:1b"),
        ("me/summariser:v2", "registry.ollama.ai/me/summariser:v2", "me/summariser:v2"),
        (
            "127.0.0.1:5000/library/tiny",
            "127.0.0.1:5000/library/tiny:latest",
            "127.0.0.1:5000/library/tiny:latest",
        ),
        ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M"),
        ("http://localhost:5000/a/b:c", "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
    ],
)
def test_valid_names_fill_defaults_and_display_short(text: str, expected: str, shortest: str) -> None:
    name = ModelName.parse(text)
    assert str(name) == expected
    assert name.display_shortest() == shortest


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":latest",
        "model:",
        "a/b/c/d",
        "/model",
        "ns./m",
        "-model",
        "model:ta/g",
        "mo del",
        "x" * 81,
        "a//b",
    ],
)
def test_invalid_names_are_rejected_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidModelNameError, match=r"\[host/\]\[namespace/\]model\[:tag\]"):
        ModelName.parse(text)


def test_http_prefix_selects_plain_http_registry() -> None:
    assert ModelName.parse("http://127.0.0.1:5000/library/tiny").registry_base_url == "http://127.0.0.1:5000"
    assert ModelName.parse("tiny").registry_base_url == "https://registry.ollama.ai"


def test_names_compare_case_insensitively() -> None:
    assert ModelName.parse("Llama3:Latest").same_model(ModelName.parse("llama3"))
    assert not ModelName.parse("llama3:8b").same_model(ModelName.parse("llama3"))


def test_manifest_path_round_trips() -> None:
    name = ModelName.parse("me/m:t")
    assert name.manifest_path == PurePosixPath("registry.ollama.ai/me/m/t")
    assert ModelName.from_manifest_path(name.manifest_path) == name
