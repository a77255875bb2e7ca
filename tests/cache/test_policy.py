"""Tests for airflow_provider_ollama.cache.policy: one spelling per policy, and what each allows."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.cache import CachePolicy
from airflow_provider_ollama.exceptions import OllamaCacheError


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("read-write", CachePolicy.READ_WRITE),
        ("read-only", CachePolicy.READ_ONLY),
        ("refresh", CachePolicy.REFRESH),
        ("off", CachePolicy.OFF),
        (CachePolicy.READ_ONLY, CachePolicy.READ_ONLY),
    ],
)
def test_parse_takes_each_policys_one_spelling_or_its_member(value: str, policy: CachePolicy) -> None:
    assert CachePolicy.parse(value) is policy


@pytest.mark.parametrize("value", ["sometimes", "READ_WRITE", "rw", "read only", " off ", "write-only", True])
def test_parse_refuses_anything_else_listing_the_four(value: object) -> None:
    with pytest.raises(OllamaCacheError, match="'read-write', 'read-only', 'refresh', 'off'"):
        CachePolicy.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "reads", "writes", "save_errors_are_fatal"),
    [
        (CachePolicy.READ_WRITE, True, True, False),
        (CachePolicy.READ_ONLY, True, False, False),
        (CachePolicy.REFRESH, False, True, True),
        (CachePolicy.OFF, False, False, False),
    ],
)
def test_each_policy_allows_its_directions(
    policy: CachePolicy, reads: bool, writes: bool, save_errors_are_fatal: bool
) -> None:
    assert (policy.reads, policy.writes, policy.save_errors_are_fatal) == (
        reads,
        writes,
        save_errors_are_fatal,
    )


def test_a_policy_prints_as_users_write_it() -> None:
    assert str(CachePolicy.READ_ONLY) == "read-only"
    assert f"{CachePolicy.REFRESH}" == "refresh"
