"""Which request errors are worth retrying, and how long to wait between tries.

A busy queue (503), a server error (5xx) or a dropped connection usually passes; a bad request (also a
500 that states an option's type is wrong), a missing model or a timeout does not, so those fail the item
at once instead of wasting the batch's time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx
import ollama

from airflow_provider_ollama.backoff import Backoff
from airflow_provider_ollama.exceptions import (
    OllamaError,
    OllamaServerError,
    OllamaServerUnreachableError,
)
from airflow_provider_ollama.hooks._errors import states_invalid_request

#: ``ollama.ResponseError.status_code`` of an ``{"error": ...}`` line inside a 200 stream.
_MID_STREAM_ERROR_STATUS = -1


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass if the same request is sent again.

    Understands both the hook's typed errors and the raw ``ollama`` client's, so the engine works
    with either. Timeouts are not retried: the request already used its whole time budget, and a
    retry would only multiply the wait.
    """
    if isinstance(error, OllamaServerError | OllamaServerUnreachableError):
        return True
    if isinstance(error, OllamaError):
        return False
    if isinstance(error, ollama.ResponseError):
        if states_invalid_request(str(error.error)):
            return False  # a 500 that says an option has the wrong type: the same request fails again
        return error.status_code >= 500 or error.status_code == _MID_STREAM_ERROR_STATUS
    if isinstance(error, httpx.TimeoutException):
        return False
    # ConnectionError is what the ollama client raises when nothing answers; httpx.TransportError
    # covers resets and truncated responses.
    return isinstance(error, ConnectionError | httpx.TransportError)


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """Retries of each request of a batch: bounded exponential backoff with jitter.

    :param retries: retries per request after the first try (0 disables them).
    :param retry_delay: seconds before the first retry.
    :param max_retry_delay: cap on any single wait.
    """

    retries: int = 3
    retry_delay: float = 0.5
    max_retry_delay: float = 8.0

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` tries have failed (1 for the first failure).

        The wait is drawn from the upper half of the exponential step, so workers that failed
        together (one 503 burst) do not all come back in the same instant.
        """
        step = super().delay(failed_attempts)
        return random.uniform(step / 2, step)  # noqa: S311 - jitter, not security
