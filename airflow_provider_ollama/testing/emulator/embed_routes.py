"""``POST /api/embed`` and the legacy ``POST /api/embeddings``, following Ollama 0.33's EmbedHandler
and EmbeddingsHandler.

Each input is truncated to the context (or refused when ``truncate`` is false), embedded by the model's
engine and L2-normalised (then cut to ``dimensions`` and normalised again). A model llama-server was
not started as an embedding server for (one without a pooling type) fails with llama-server's own
501, relayed as its text by ``/api/embed`` and as a 500 by the legacy route. The legacy route returns
what llama-server returns: normalised vectors, except for the model kinds that used to be raw.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_ollama.testing.emulator import inference_fields as fields
from airflow_provider_ollama.testing.emulator.engine import ModelRunner
from airflow_provider_ollama.testing.emulator.gojson import go_quote, shortest_float32
from airflow_provider_ollama.testing.emulator.http import ApiError, json_response, read_json_body
from airflow_provider_ollama.testing.emulator.inference_steps import (
    InferenceState,
    engine_errors,
    find_model,
    merged_options,
    nonzero,
    schedule,
    state_of,
    unless_disconnected,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.scheduler import DEFAULT_NUM_CTX

#: llama-server's answer to an embedding request when it was not started with ``--embeddings``.
NO_EMBEDDINGS = "This server does not support embeddings. Start it with `--embeddings`"
INPUT_TOO_LONG = "the input length exceeds the context length"
INPUT_TOO_LONG_AFTER_TRUNCATION = "input after truncation exceeds maximum context length"

EMBED_FIELDS = {
    "model": "string",
    "input": "interface {}",
    "keep_alive": "interface {}",
    "truncate": "bool",
    "dimensions": "int",
    "options": "map[string]interface {}",
}
EMBEDDINGS_FIELDS = {
    "model": "string",
    "prompt": "string",
    "keep_alive": "interface {}",
    "options": "map[string]interface {}",
}


def _inputs(value: Any) -> list[str]:
    """``EmbedRequest.Input``: a string (empty means none) or a list of strings."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ApiError(400, "invalid input type")
        return list(value)
    if value is None:
        return []
    raise ApiError(400, "invalid input type")


def _not_pulled(requested: str) -> ApiError:
    """``handleScheduleError`` for a model that is not stored."""
    return ApiError(404, f"model {go_quote(requested)} not found, try pulling it first")


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _normalize(vector: list[float]) -> list[float]:
    """Ollama's ``normalize`` (in float32): unit L2 norm, a zero vector stays zero."""
    norm = math.sqrt(sum(value * value for value in vector))
    scale = _float32(1.0 / max(norm, 1e-12))
    return [_float32(value * scale) for value in vector]


def _special_tokens(model: LocalModel) -> int:
    """Tokens llama-server adds around an input when it counts it (BOS, and SEP for BERT vocabularies)."""
    added = 1 if model.gguf_metadata.get("tokenizer.ggml.add_bos_token", True) else 0
    if model.gguf_metadata.get("tokenizer.ggml.model") == "bert" or model.gguf_metadata.get(
        "tokenizer.ggml.add_eos_token"
    ):
        added += 1
    return added


@dataclass(frozen=True)
class _Limits:
    """The token budget of one input (``inputTokensAndContext`` and ``adjustTokenLimit``)."""

    context_length: int

    def for_tokens(self, tokens: list[int], model: LocalModel) -> int:
        limit = self.context_length
        bos = model.gguf_metadata.get("tokenizer.ggml.bos_token_id")
        eos = model.gguf_metadata.get("tokenizer.ggml.eos_token_id")
        if tokens and tokens[0] != bos:
            limit -= 1
        if tokens and tokens[-1] != eos:
            limit -= 1
        return limit


async def _embed_one(
    runner: ModelRunner, model: LocalModel, text: str, limits: _Limits, truncate: bool
) -> tuple[list[float], int]:
    with engine_errors():
        tokens = await runner.tokenize(model, text)
    limit = limits.for_tokens(tokens, model)
    if limit <= 0:
        raise ApiError(400, INPUT_TOO_LONG_AFTER_TRUNCATION)
    if len(tokens) > limit:
        if not truncate:
            raise ApiError(400, INPUT_TOO_LONG)
        with engine_errors():
            text = await runner.truncated(model, text, limit)
    if not model.supports("embedding") or f"{model.architecture}.pooling_type" not in model.gguf_metadata:
        raise ApiError(501, NO_EMBEDDINGS)
    with engine_errors():
        embedding = await runner.embed(model, text)
    if runner.measured:
        return embedding.vector, embedding.tokens  # llama-server counts the special tokens itself
    return embedding.vector, embedding.tokens + _special_tokens(model)


async def prepare_embed(state: InferenceState, body: Mapping[str, Any]) -> dict[str, Any]:
    """EmbedHandler: the ``api.EmbedResponse`` for ``body``, or an :class:`ApiError`."""
    started = time.monotonic()
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    requested = str(body.get("model") or "")
    required = ApiError(404, f"model '{requested}' not found")
    _, model = find_model(state, requested, required=required, path="/api/embed")
    inputs = _inputs(body.get("input"))
    if model is None:
        raise _not_pulled(requested)
    options = merged_options(model, body.get("options"))
    async with AsyncExitStack() as stack:
        lease = await schedule(stack, state, model, keep_alive, options)
        loaded_ns = int((time.monotonic() - started) * 1e9)
        if not inputs:
            return {"model": requested, "embeddings": []}
        runner = lease.runner
        num_ctx = int(options.get("num_ctx") or 0) or state.settings.context_length or DEFAULT_NUM_CTX
        train = model.context_length
        limits = _Limits(min(num_ctx, train) if num_ctx > 0 else train)
        truncate = body.get("truncate") is not False
        dimensions = int(body.get("dimensions") or 0)
        vectors: list[list[float]] = []
        counted = 0
        async with lease.slot() as pacer:
            if not runner.measured:
                await pacer.prompt()
            for text in inputs:
                vector, tokens = await _embed_one(runner, model, text, limits, truncate)
                vector = _normalize(vector)
                if 0 < dimensions < len(vector):
                    vector = _normalize(vector[:dimensions])
                vectors.append([shortest_float32(value) for value in vector])
                counted += tokens
    answer: dict[str, Any] = {"model": requested, "embeddings": vectors}
    answer.update(
        nonzero(
            total_duration=int((time.monotonic() - started) * 1e9),
            load_duration=loaded_ns,
            prompt_eval_count=counted,
        )
    )
    return answer


def legacy_embeddings_were_raw(model: LocalModel) -> bool:
    """``legacyEmbeddingsWereRaw``: the embedding models whose legacy vectors stay unnormalised."""
    arch = model.architecture
    metadata = model.gguf_metadata
    if f"{arch}.pooling_type" not in metadata:
        return False
    if arch == "bert":
        if metadata.get("tokenizer.ggml.model", "bert") != "bert":
            return True
        return not metadata.get(f"{arch}.normalize_embeddings", True)
    if arch in ("nomic-bert", "nomic-bert-moe"):
        return not metadata.get(f"{arch}.normalize_embeddings", False)
    return False


async def prepare_embeddings(state: InferenceState, body: Mapping[str, Any]) -> dict[str, Any]:
    """EmbeddingsHandler: ``{"embedding": [...]}`` (float64 of the runner's float32 values)."""
    keep_alive = fields.keep_alive_seconds(body.get("keep_alive"))
    requested = str(body.get("model") or "")
    _, model = find_model(
        state, requested, required=ApiError(400, "model is required"), path="/api/embeddings"
    )
    if model is None:
        raise _not_pulled(requested)
    options = merged_options(model, body.get("options"))
    prompt = str(body.get("prompt") or "")
    async with AsyncExitStack() as stack:
        lease = await schedule(stack, state, model, keep_alive, options)
        if not prompt:
            return {"embedding": []}
        runner = lease.runner
        async with lease.slot() as pacer:
            if not runner.measured:
                await pacer.prompt()
            with engine_errors():
                tokens = await runner.tokenize(model, prompt)
            if (
                not model.supports("embedding")
                or f"{model.architecture}.pooling_type" not in model.gguf_metadata
            ):
                raise ApiError(500, NO_EMBEDDINGS)
            if len(tokens) > lease.context_length:
                raise ApiError(500, INPUT_TOO_LONG)
            with engine_errors():
                embedding = await runner.embed(model, prompt)
    vector = [_float32(value) for value in embedding.vector]
    if not legacy_embeddings_were_raw(model):
        vector = _normalize(vector)
    return {"embedding": vector}


async def embed(request: Request) -> Response:
    body = await read_json_body(request, fields=EMBED_FIELDS, struct="EmbedRequest")

    async def respond() -> Response:
        return json_response(await prepare_embed(state_of(request), body))

    return await unless_disconnected(request, respond())


async def embeddings(request: Request) -> Response:
    body = await read_json_body(request, fields=EMBEDDINGS_FIELDS, struct="EmbeddingRequest")

    async def respond() -> Response:
        return json_response(await prepare_embeddings(state_of(request), body))

    return await unless_disconnected(request, respond())
