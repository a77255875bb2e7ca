"""Sizes and rates read the same in every log line: decimal by default, binary where the cache asks."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.sizes import format_rate, format_size, megabytes_per_second


@pytest.mark.parametrize(("size", "text"), [(999, "999 B"), (1500, "1.5 KB"), (2_500_000_000, "2.5 GB")])
def test_sizes_use_decimal_units_like_the_rates(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (2 << 30, "2.0 GiB"), (5 << 40, "5120.0 GiB")],
)
def test_binary_sizes(size: int, text: str) -> None:
    assert format_size(size, binary=True) == text


def test_rates_are_decimal_megabytes_per_second_and_zero_without_time_or_bytes() -> None:
    assert format_rate(25_000_000, 2.0) == "12.5 MB/s"
    assert megabytes_per_second(25_000_000, 0.0) == megabytes_per_second(0, 3.0) == 0.0
