"""Labels Ollama shows for a GGUF file's numbers: parameter sizes (format.HumanNumber, format/format.go)."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.testing.gguf import parameter_size_label


@pytest.mark.parametrize(
    ("count", "label"),
    [
        (3_200_000_000, "3.2B"),
        (8_000_000_000, "8B"),
        (137_000_000, "137M"),
        (22_700_000, "22.70M"),
        (1_200_000, "1.20M"),
        (999, "999"),
        (23_000, "23K"),
    ],
)
def test_parameter_size_label_matches_ollama_style(count: int, label: str) -> None:
    assert parameter_size_label(count) == label
