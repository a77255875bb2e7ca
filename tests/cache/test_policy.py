"""Tests for airflow_provider_ollama.cache.policy: the spellings users type, and what each allows."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.cache import CachePolicy
from airflow_provider_ollama.exceptions import OllamaCacheError


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("read-write", CachePolicy.READ_WRITE),
        ("READ_WRITE", CachePolicy.READ_WRITE),
        ("rw", CachePolicy.READ_WRITE),
        ("read only", CachePolicy.READ_ONLY),
        ("readonly", CachePolicy.READ_ONLY),
        ("write_only", CachePolicy.WRITE_ONLY),
        (" Off ", CachePolicy.OFF),
        ("disabled", CachePolicy.OFF),
        (CachePolicy.READ_ONLY, CachePolicy.READ_ONLY),
    ],
)
def test_parse_accepts_common_spellings(text: str, policy: CachePolicy) -> None:
    assert CachePolicy.parse(text) is policy


def test_parse_rejects_an_unknown_policy_listing_the_valid_ones() -> None:
    with pytest.raises(OllamaCacheError, match="'read-write', 'read-only', 'write-only', 'off'"):
        CachePolicy.parse("sometimes")


@pytest.mark.parametrize(
    ("policy", "reads", "writes", "save_errors_are_fatal"),
    [
        (CachePolicy.READ_WRITE, True, True, False),
        (CachePolicy.READ_ONLY, True, False, False),
        (CachePolicy.WRITE_ONLY, False, True, True),
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
    assert f"{CachePolicy.WRITE_ONLY}" == "write-only"
