"""Deterministic embeddings for the emulator: /api/embed and the legacy /api/embeddings.

A text's vector is the sum of one fixed pseudo-random vector per token (seeded by the model digest),
so equal texts embed equally and texts sharing words point in similar directions, which keeps
similarity searches in tests meaningful. Pure code: no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from airflow_provider_ollama.testing.emulator.generation import tokenize

#: Ollama's answer when truncate is false and an input is longer than the context.
INPUT_TOO_LONG = "the input length exceeds the context length"
_DECIMALS = 7  # Ollama sends float32 values; seven decimals keep the JSON short and the norm at 1


class InputTooLongError(ValueError):
    """An input exceeds the context length and the request forbids truncation."""

    def __init__(self) -> None:
        super().__init__(INPUT_TOO_LONG)


@dataclass(frozen=True)
class EmbedResult:
    embeddings: list[list[float]]
    prompt_eval_count: int


def raw_embedding(model_digest: str, text: str, length: int) -> list[float]:
    """The model's unnormalised output for ``text``: what the legacy endpoint returns."""
    total = [0.0] * length
    pieces = [piece.strip().lower() for piece in tokenize(text)] or [""]
    for piece in pieces:
        for index, value in enumerate(_token_vector(model_digest, piece, length)):
            total[index] += value
    return total


def normalize(vector: Sequence[float]) -> list[float]:
    """Scale to unit L2 norm (a zero vector stays zero), as Ollama does."""
    norm = math.sqrt(sum(value * value for value in vector))
    scale = 1.0 / max(norm, 1e-12)
    return [value * scale for value in vector]


def embed_inputs(
    model_digest: str,
    inputs: Sequence[str],
    *,
    embedding_length: int,
    context_length: int,
    truncate: bool = True,
    dimensions: int | None = None,
) -> EmbedResult:
    """/api/embed: one L2-normalised vector per input, ``dimensions`` cutting and renormalising them.

    Inputs longer than ``context_length`` tokens are cut to fit, or refused when ``truncate`` is false.
    """
    vectors: list[list[float]] = []
    counted = 0
    for text in inputs:
        pieces = tokenize(text)
        if len(pieces) > context_length:
            if not truncate:
                raise InputTooLongError()
            pieces = pieces[:context_length]
        counted += len(pieces)
        vector = normalize(raw_embedding(model_digest, "".join(pieces), embedding_length))
        if dimensions is not None and 0 < dimensions < len(vector):
            vector = normalize(vector[:dimensions])
        vectors.append([round(value, _DECIMALS) for value in vector])
    return EmbedResult(embeddings=vectors, prompt_eval_count=counted)


@lru_cache(maxsize=8192)
def _token_vector(model_digest: str, piece: str, length: int) -> tuple[float, ...]:
    """A fixed vector in [-1, 1]^length for one token of one model."""
    raw = hashlib.shake_256(f"{model_digest}\x00{piece}".encode()).digest(2 * length)
    return tuple(int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32767.5 - 1.0 for i in range(length))
