"""Retries after a first attempt, with exponentially growing waits: the shape every retry policy shares.

Counts are retries, as Airflow counts a task's ``retries``: 0 means one attempt. Pulls
(:class:`~airflow_provider_ollama.pulling.retry.PullRetryPolicy`) and batch requests
(:class:`~airflow_provider_ollama.batch.retry.RetryPolicy`) extend it with what only they need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """How many retries, and how long to wait before each.

    :param retries: attempts after the first one (0 disables retries).
    :param retry_delay: seconds before the first retry; doubled for each further one.
    :param max_retry_delay: cap on any single wait.
    """

    retries: int = 3
    retry_delay: float = 5.0
    max_retry_delay: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must not be negative, got {self.retries!r}")
        if self.retry_delay < 0 or self.max_retry_delay < 0:
            raise ValueError("retry delays must not be negative")

    @property
    def attempts(self) -> int:
        """Attempts in all, the first one included."""
        return self.retries + 1

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` attempts have failed (1 for the first failure)."""
        return float(min(self.max_retry_delay, self.retry_delay * 2.0 ** (failed_attempts - 1)))
