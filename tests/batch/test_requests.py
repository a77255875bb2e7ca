"""Batch kinds: units of work, argument checks at construction, and the fingerprint that guards resumes."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.batch import ChatBatch, EmbedBatch, GenerateBatch, GenerationOptions


def test_generate_units_hold_one_item_each() -> None:
    batch = GenerateBatch("tiny", ["a", "b", "c"])
    assert list(batch.units([0, 2])) == [(0,), (2,)]


def test_embed_units_group_the_todo_indices_in_sub_batches() -> None:
    batch = EmbedBatch("tiny-embed", [str(index) for index in range(7)], batch_size=3)
    assert list(batch.units([0, 1, 3, 4, 5, 6])) == [(0, 1, 3), (4, 5, 6)]


def test_the_fingerprint_is_stable_for_the_same_batch() -> None:
    options = GenerationOptions(format={"type": "object"}, options={"seed": 1})
    assert (
        GenerateBatch("tiny", ["a", "b"], options=options).fingerprint()
        == GenerateBatch("tiny", ["a", "b"], options=options).fingerprint()
    )


@pytest.mark.parametrize(
    "other",
    [
        GenerateBatch("tiny", ["a", "c"]),
        GenerateBatch("tiny", ["b", "a"]),
        GenerateBatch("tiny", ["a", "b", "c"]),
        GenerateBatch("other", ["a", "b"]),
        GenerateBatch("tiny", ["a", "b"], options=GenerationOptions(options={"temperature": 0})),
        GenerateBatch("tiny", ["a", "b"], options=GenerationOptions(format="json")),
        ChatBatch("tiny", [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]),
    ],
)
def test_the_fingerprint_changes_with_items_model_or_options(other: GenerateBatch | ChatBatch) -> None:
    assert other.fingerprint() != GenerateBatch("tiny", ["a", "b"]).fingerprint()


def test_keep_alive_does_not_change_the_fingerprint() -> None:
    assert (
        GenerateBatch("tiny", ["a"], options=GenerationOptions(keep_alive="1h")).fingerprint()
        == GenerateBatch("tiny", ["a"]).fingerprint()
    )


def test_a_batch_needs_a_model() -> None:
    with pytest.raises(ValueError, match="model is required"):
        GenerateBatch(" ", ["a"])


def test_a_bad_schema_fails_when_the_options_are_built() -> None:
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        GenerationOptions(format={"type": 7})


def test_embed_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        EmbedBatch("tiny-embed", ["a"], batch_size=0)
