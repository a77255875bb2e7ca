"""Which errors are retried (busy, 5xx, dropped connections) and which never are (4xx, timeouts)."""

from __future__ import annotations

import httpx
import ollama
import pytest

from airflow_provider_ollama.batch import RetryPolicy, is_transient
from airflow_provider_ollama.exceptions import (
    OllamaBadRequestError,
    OllamaModelNotFoundError,
    OllamaServerBusyError,
    OllamaServerError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)


@pytest.mark.parametrize(
    "error",
    [
        OllamaServerBusyError("busy"),
        OllamaServerError("runner crashed"),
        OllamaServerUnreachableError("refused"),
        ollama.ResponseError("busy", 503),
        ollama.ResponseError("oops", 500),
        ollama.ResponseError("error mid-stream", -1),
        ConnectionResetError("reset"),
        ConnectionError("Failed to connect to Ollama"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=type,
)
def test_transient_errors_are_retried(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        OllamaBadRequestError("bad"),
        OllamaModelNotFoundError("missing"),
        OllamaTimeoutError("slow"),
        ollama.ResponseError("invalid", 400),
        ollama.ResponseError("not found", 404),
        ollama.ResponseError("teapot", 429),
        ollama.ResponseError('option "num_predict" must be of type integer', 500),
        ollama.ResponseError('option "stop" must be of an array of strings', 500),
        httpx.ReadTimeout("slow"),
        ValueError("bad value"),
    ],
    ids=type,
)
def test_client_errors_and_timeouts_are_not_retried(error: BaseException) -> None:
    assert not is_transient(error)


def test_backoff_grows_exponentially_within_its_cap() -> None:
    policy = RetryPolicy(retry_delay=1.0, max_retry_delay=4.0)
    for failed, step in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 4.0)]:
        for _ in range(20):
            assert step / 2 <= policy.delay(failed) <= step


def test_a_negative_retry_count_is_refused() -> None:
    with pytest.raises(ValueError, match="retries must not be negative"):
        RetryPolicy(retries=-1)
