"""Go durations and keep_alive values, parsed the way a real Ollama server parses them."""

from __future__ import annotations

import math
import re

import pytest

from airflow_provider_ollama.durations import (
    DurationError,
    go_time_quote,
    normalize_keep_alive,
    parse_env_duration,
    parse_go_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("-1m", -60.0),
        ("+2s", 2.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        ("3ns", 3e-9),
        ("5.s", 5.0),
        (".5s", 0.5),
    ],
)
def test_parse_go_duration_reads_go_syntax(text: str, seconds: float) -> None:
    assert math.isclose(parse_go_duration(text), seconds)


@pytest.mark.parametrize("text", ["300", "1.5"])
def test_parse_go_duration_rejects_bare_numbers_like_go(text: str) -> None:
    with pytest.raises(DurationError, match="missing unit"):
        parse_go_duration(text)


@pytest.mark.parametrize("text", ["", "-", "m5", "--1m", " 5m ", ".s"])
def test_parse_go_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(DurationError, match=f"^time: invalid duration {re.escape(go_time_quote(text))}$"):
        parse_go_duration(text)


@pytest.mark.parametrize(("text", "unit"), [("1d", '"d"'), ("5 minutes", '" minutes"'), ("1h--5m", '"h--"')])
def test_parse_go_duration_names_an_unknown_unit_like_go(text: str, unit: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == f'time: unknown unit {unit} in duration "{text}"'


def test_parse_env_duration_accepts_bare_seconds_and_go_durations() -> None:
    assert parse_env_duration("300") == 300.0
    assert parse_env_duration("-1") == -1.0
    assert parse_env_duration("5m") == 300.0
    assert parse_env_duration('"10m"') == 600.0


def test_parse_env_duration_falls_back_to_five_minutes_like_envconfig() -> None:
    assert parse_env_duration("1.5") == 300.0
    assert parse_env_duration("soon") == 300.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (300, 300.0),
        (2.5, 2.5),
        (-1, -1.0),
        ("300", 300.0),  # a form's text field: seconds, sent as a number a server accepts
        (" -1 ", -1.0),
        ("5m", "5m"),
        (" 1h30m ", "1h30m"),
        ("0", 0.0),
    ],
)
def test_normalize_keep_alive_returns_what_a_server_accepts(
    value: float | str, expected: float | str
) -> None:
    assert normalize_keep_alive(value) == expected


@pytest.mark.parametrize("value", ["five minutes", "1d", "", "nan", "inf"])
def test_normalize_keep_alive_rejects_values_a_server_would_refuse(value: str) -> None:
    with pytest.raises(DurationError, match="keep_alive"):
        normalize_keep_alive(value)


@pytest.mark.parametrize("value", [True, None, [5], {"m": 5}])
def test_normalize_keep_alive_rejects_other_types(value: object) -> None:
    with pytest.raises(DurationError, match="number of seconds or a Go duration"):
        normalize_keep_alive(value)  # type: ignore[arg-type]


def test_emulator_settings_use_the_shared_parser() -> None:
    from airflow_provider_ollama.testing.emulator import settings

    assert settings.parse_go_duration is parse_go_duration
    assert settings.EmulatorSettings.from_env({"OLLAMA_KEEP_ALIVE": "2m"}).keep_alive_seconds == 120.0
