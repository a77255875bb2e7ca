"""The seam between the emulator's routes and what produces text, tokens and vectors: the engines.

Routes (generate, chat, embed and their OpenAI-compatible forms) do everything Ollama's server does
around a model: decoding, validation, capability checks, scheduling, pacing, response shapes and
errors. For the model itself they call an :class:`InferenceEngine`, found for each model by
:meth:`EngineRegistry.engine_for`. The synthetic engine (deterministic, instant) serves every model
no other engine claims; an engine for models with real weights registers a claim and takes over the
models it recognises, behind the same three calls:

* :meth:`InferenceEngine.complete` gets a :class:`CompletionRequest` (the conversation or raw prompt
  as Ollama would hand it to llama-server, options, format, thinking, tools, logprobs) and returns a
  :class:`Completion`: an iterator of :class:`~.generation.Chunk` plus the final counts;
* :meth:`InferenceEngine.embed` returns one input's vector (as the runner returns it, before Ollama
  normalises) and its token count;
* :meth:`InferenceEngine.tokenize` counts and truncates inputs the way the model's tokenizer would.

An engine whose calls block (a real model on a CPU) sets ``blocking = True`` and the routes run its
calls in a worker thread; the synthetic engine answers at once on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_ollama.testing.emulator.embeddings import raw_embedding
from airflow_provider_ollama.testing.emulator.generation import (
    Chunk,
    Generation,
    GenerationRequest,
    OutputFormat,
    count_tokens,
    prompt_token_count,
    token_ids,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel


@dataclass(frozen=True)
class CompletionRequest:
    """One generation, as the route layer hands it to an engine (Ollama's ``llm.CompletionRequest``).

    ``messages`` is the whole conversation in order (the model's system prompt and MESSAGEs included),
    each ``{"role", "content", ...}`` with ``images`` as base64 strings; a raw generate instead sets
    ``raw_prompt`` and leaves ``messages`` empty. ``context`` is generate's deprecated token context.
    """

    model: LocalModel
    messages: tuple[Mapping[str, Any], ...]
    options: Mapping[str, Any]
    output_format: OutputFormat = field(default_factory=OutputFormat)
    #: None when the model should not think, else the level (``low``, ``medium``, ``high``, ``max``).
    think_level: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    #: None for no log probabilities, else how many alternatives per token.
    top_logprobs: int | None = None
    raw_prompt: str | None = None
    suffix: str = ""
    context: tuple[int, ...] = ()
    #: Whether the caller offered tools whose calls the answer may contain (chat with tools).
    tool_calls_allowed: bool = False

    def prompt_text(self) -> str:
        """The conversation flattened to ``role: content`` lines (what the synthetic engine reads)."""
        if self.raw_prompt is not None:
            return self.raw_prompt
        lines = [f"{message.get('role', '')}: {message.get('content') or ''}" for message in self.messages]
        return "\n".join(lines)


class Completion(Protocol):
    """A generation under way: iterate :meth:`chunks` once, then read the counts."""

    @property
    def done_reason(self) -> str:
        """``stop`` or ``length`` once the chunks are exhausted."""
        ...

    @property
    def eval_count(self) -> int:
        """Tokens generated (for ``eval_count``)."""
        ...

    @property
    def prompt_eval_count(self) -> int:
        """Tokens of the prompt (for ``prompt_eval_count``); known before the chunks are read."""
        ...

    def chunks(self) -> Iterator[Chunk]:
        """The answer piece by piece: content, thinking, tool calls and log probabilities."""
        ...

    def context_ids(self) -> list[int]:
        """Generate's ``context``: token ids of the prompt and the answer (after :meth:`chunks`)."""
        ...


@dataclass(frozen=True)
class Embedding:
    """One input's vector as the runner returns it (not yet normalised) and the tokens it read."""

    vector: list[float]
    tokens: int


class InferenceEngine(Protocol):
    """What produces a model's answers; see the module docstring for the contract."""

    #: True when the calls block (run them in a worker thread); False for instant engines.
    blocking: bool

    def complete(self, request: CompletionRequest) -> Completion: ...

    def embed(self, model: LocalModel, text: str) -> Embedding: ...

    def tokenize(self, model: LocalModel, text: str) -> list[int]: ...


# --------------------------------------------------------------------------------------------------
# The synthetic engine


class _SyntheticCompletion:
    def __init__(self, request: CompletionRequest) -> None:
        self._request = request
        text = request.prompt_text()
        seed_text = f"{text}\n{list(request.context)}" if request.context else text
        self._prompt_ids = [*request.context, *token_ids(text)]
        self._generation = Generation(
            GenerationRequest(
                model_digest=request.model.digest_hex,
                prompt=seed_text,
                seed=int(request.options.get("seed", 0) or 0),
                num_predict=int(request.options.get("num_predict", 0) or 0),
                stop=tuple(request.options.get("stop") or ()),
                output_format=request.output_format,
                think_level=request.think_level,
                tools=request.tools if request.tool_calls_allowed else (),
                top_logprobs=request.top_logprobs,
            )
        )
        if request.raw_prompt is not None:
            self.prompt_eval_count = count_tokens(request.raw_prompt)
        else:
            tools_text = json.dumps(list(request.tools)) if request.tools else ""
            self.prompt_eval_count = prompt_token_count("", request.messages, tools_text) + len(
                request.context
            )

    @property
    def done_reason(self) -> str:
        return self._generation.done_reason

    @property
    def eval_count(self) -> int:
        return self._generation.eval_count

    def chunks(self) -> Iterator[Chunk]:
        return self._generation.chunks()

    def context_ids(self) -> list[int]:
        return [*self._prompt_ids, *self._generation.response_token_ids()]


class SyntheticEngine:
    """Deterministic answers for models without real weights: same request, same output, instantly."""

    blocking = False

    def complete(self, request: CompletionRequest) -> Completion:
        return _SyntheticCompletion(request)

    def embed(self, model: LocalModel, text: str) -> Embedding:
        return Embedding(raw_embedding(model.digest_hex, text, model.embedding_length), count_tokens(text))

    def tokenize(self, model: LocalModel, text: str) -> list[int]:
        return token_ids(text)


#: A claim: the engine for a model, or None to let the next claim (finally the synthetic one) decide.
EngineClaim = Callable[[LocalModel], "InferenceEngine | None"]


class EngineRegistry:
    """Finds the engine for each model: the first claim that accepts it, else the synthetic engine."""

    def __init__(self, claims: Sequence[EngineClaim] = ()) -> None:
        self._claims: list[EngineClaim] = list(claims)
        self.synthetic = SyntheticEngine()

    def register(self, claim: EngineClaim) -> None:
        """Ask ``claim`` first from now on (later registrations take precedence)."""
        self._claims.insert(0, claim)

    def engine_for(self, model: LocalModel) -> InferenceEngine:
        for claim in self._claims:
            engine = claim(model)
            if engine is not None:
                return engine
        return self.synthetic
