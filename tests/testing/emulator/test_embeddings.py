"""Emulated embeddings: deterministic, unit length, ``dimensions`` and truncation as Ollama applies them."""

from __future__ import annotations

import math

import pytest

from airflow_provider_ollama.testing.emulator.embeddings import (
    INPUT_TOO_LONG,
    InputTooLongError,
    embed_inputs,
    normalize,
    raw_embedding,
)

DIGEST = "ef" * 32


def embed(*inputs: str, **kwargs: object) -> list[list[float]]:
    options = {"embedding_length": 384, "context_length": 512, **kwargs}
    return embed_inputs(DIGEST, inputs, **options).embeddings  # type: ignore[arg-type]


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


def test_vectors_are_unit_length_with_the_model_dimension() -> None:
    vectors = embed("Why is the sky blue?", "Why is the grass green?")
    assert [len(vector) for vector in vectors] == [384, 384]
    assert all(norm(vector) == pytest.approx(1.0, abs=1e-5) for vector in vectors)


def test_same_text_same_vector_and_other_models_differ() -> None:
    assert embed("llamas") == embed("llamas")
    other = embed_inputs("01" * 32, ["llamas"], embedding_length=384, context_length=512).embeddings
    assert other != embed("llamas")


def test_texts_sharing_words_are_closer_than_unrelated_ones() -> None:
    base, similar, unrelated = embed(
        "the river flows under the old bridge",
        "the old bridge over the river",
        "quantum chromodynamics lecture notes",
    )
    assert cosine(base, similar) > cosine(base, unrelated) + 0.2


def test_dimensions_truncate_then_renormalise() -> None:
    (full,) = embed("llamas are camelids")
    (short,) = embed("llamas are camelids", dimensions=64)
    assert len(short) == 64
    assert norm(short) == pytest.approx(1.0, abs=1e-5)
    assert short == pytest.approx(normalize(full[:64]), abs=1e-6)


@pytest.mark.parametrize("dimensions", [0, 384, 1000])
def test_dimensions_outside_the_vector_change_nothing(dimensions: int) -> None:
    assert embed("x", dimensions=dimensions) == embed("x")


def test_long_input_is_truncated_to_the_context_and_counted() -> None:
    long_text = " ".join(["word"] * 50)
    result = embed_inputs(DIGEST, [long_text], embedding_length=16, context_length=10)
    cut = embed_inputs(DIGEST, [" ".join(["word"] * 10)], embedding_length=16, context_length=10)
    assert result.prompt_eval_count == 10
    assert result.embeddings == cut.embeddings


def test_long_input_without_truncation_is_refused() -> None:
    with pytest.raises(InputTooLongError, match=INPUT_TOO_LONG):
        embed_inputs(DIGEST, ["a b c d e"], embedding_length=16, context_length=3, truncate=False)


def test_no_inputs_no_vectors() -> None:
    assert embed_inputs(DIGEST, [], embedding_length=16, context_length=8).embeddings == []


def test_legacy_vector_points_the_same_way_but_is_not_normalised() -> None:
    raw = raw_embedding(DIGEST, "llamas", 384)
    (unit,) = embed("llamas")
    assert norm(raw) > 2
    assert normalize(raw) == pytest.approx(unit, abs=1e-6)
