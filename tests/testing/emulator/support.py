"""Assertions shared by the emulator's store-side tests: NDJSON streams and Ollama's error answers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from airflow_provider_ollama.testing.emulator.http import JSON_PLAIN, JSON_UTF8, NDJSON


def ndjson_lines(response: httpx.Response) -> list[dict[str, Any]]:
    """The events of a streamed answer, checking Ollama's framing: one object per line, no blanks."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == NDJSON
    text = response.text
    assert text.endswith("\n"), "every NDJSON line ends with a newline"
    assert "\n\n" not in text, "Ollama never sends blank lines (the Python client would crash on one)"
    return [json.loads(line) for line in text.splitlines()]


def assert_error(
    response: httpx.Response, status: int, message: str, *, content_type: str = JSON_UTF8
) -> None:
    """Status, content type and ``{"error": message}`` body exactly as Ollama answers them."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers.get("content-type") == content_type
    assert response.json() == {"error": message}


def assert_stream_error(response: httpx.Response, message: str) -> list[dict[str, Any]]:
    """A stream that started fine and ended in Ollama's ``{"error": ...}`` line (status stays 200)."""
    lines = ndjson_lines(response)
    assert lines[-1] == {"error": message}
    return lines[:-1]


__all__ = ["JSON_PLAIN", "JSON_UTF8", "NDJSON", "assert_error", "assert_stream_error", "ndjson_lines"]
