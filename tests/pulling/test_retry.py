"""PullRetryPolicy: exponential backoff with a cap, and arguments checked when it is built."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.pulling.retry import PullRetryPolicy, registry_of


def test_the_delay_doubles_per_failure_up_to_the_cap() -> None:
    policy = PullRetryPolicy(retry_delay=5, max_retry_delay=30)
    assert [policy.delay(failures) for failures in range(1, 6)] == [5.0, 10.0, 20.0, 30.0, 30.0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"retries": -1}, "must not be negative"),
        ({"retry_delay": -1}, "must not be negative"),
        ({"stall_timeout": 0}, "stall_timeout must be positive"),
    ],
)
def test_bad_settings_are_refused(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PullRetryPolicy(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "registry"),
    [("llama3.2:1b", "registry.ollama.ai"), ("127.0.0.1:5000/library/tiny:latest", "127.0.0.1:5000")],
)
def test_the_registry_is_the_host_in_the_name(model: str, registry: str) -> None:
    assert registry_of(model) == registry
