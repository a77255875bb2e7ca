"""The seam between the emulator's routes and what produces text, tokens and vectors: the engines.

Routes (generate, chat, embed and their OpenAI-compatible forms) do everything Ollama's server does
around a model: decoding, validation, capability checks, scheduling, response shapes and errors. The
model itself is an :class:`InferenceEngine`, found for each model by :meth:`EngineRegistry.engine_for`
when the scheduler loads it. The synthetic engine (deterministic, instant) serves every model no other
engine claims; an engine for models with real weights registers a claim and takes over the models it
recognises. Loading gives a :class:`ModelRunner` (Ollama's ``llm.LlamaServer``: one loaded model with
its slots), which the scheduler keeps until the model unloads and the routes call:

* :meth:`ModelRunner.complete` gets a :class:`CompletionRequest` (the conversation or raw prompt
  as Ollama hands it to llama-server, options, format, thinking, tools, logprobs) and returns a
  :class:`Completion`: the prompt's token count at once, then an async stream of
  :class:`~.generation.Chunk` and the final counts;
* :meth:`ModelRunner.embed` returns one input's vector (as the runner returns it, before Ollama
  normalises) and its token count;
* :meth:`ModelRunner.tokenize` and :meth:`ModelRunner.truncated` count and cut inputs the way the
  model's tokenizer would;
* :meth:`ModelRunner.render` is the prompt text ``_debug_render_only`` shows.

A runner that evaluates prompts itself (``measured``: a real model) reports its own durations, cuts
prompts to its context and answers as fast as it computes; for one that does not (the synthetic
engine) the routes apply the performance model (latency, token rate) and Ollama's context shift. An
engine's failure is an :class:`EngineError` with the status and text Ollama answers with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
    tokenize,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel


class EngineError(Exception):
    """A load or request an engine failed; ``status_code`` and ``message`` are what Ollama answers."""

    def __init__(self, message: str, status_code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class LoadOptions:
    """What a model is loaded with (Ollama's runner options after ``getRunner``'s adjustments)."""

    #: Tokens of context per slot (the effective ``num_ctx``).
    num_ctx: int
    #: Parallel slots (``OLLAMA_NUM_PARALLEL``, one for embedding models and some families).
    num_parallel: int = 1
    num_batch: int = 512
    #: 0 lets the engine choose.
    num_thread: int = 0


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
    #: ``truncate`` and ``shift``: a prompt longer than the context is cut (keeping ``num_keep``
    #: tokens) when both hold, refused when shifting is off (``completionPromptForRequest``).
    truncate: bool = True
    shift: bool = True

    def prompt_text(self) -> str:
        """The conversation flattened to ``role: content`` lines (what the synthetic engine reads)."""
        if self.raw_prompt is not None:
            return self.raw_prompt
        lines = [f"{message.get('role', '')}: {message.get('content') or ''}" for message in self.messages]
        return "\n".join(lines)


@dataclass(frozen=True)
class Timings:
    """What a measured runner reports once an answer is done (llama-server's ``timings``)."""

    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_duration_ns: int


class Completion(Protocol):
    """A generation under way: iterate :meth:`chunks` once, then read the counts."""

    @property
    def prompt_eval_count(self) -> int:
        """Tokens of the prompt as rendered (for ``prompt_eval_count``); known before the chunks."""
        ...

    @property
    def done_reason(self) -> str:
        """``stop`` or ``length`` once the chunks are exhausted; empty when the runner aborted the
        answer without a final chunk (Ollama's token-repeat limit), which the routes pass on."""
        ...

    @property
    def eval_count(self) -> int:
        """Tokens generated (for ``eval_count``)."""
        ...

    @property
    def timings(self) -> Timings | None:
        """The runner's own counts and durations after the chunks, or None when the routes time it."""
        ...

    def chunks(self) -> AsyncIterator[Chunk]:
        """The answer piece by piece: content, thinking, tool calls and log probabilities."""
        ...

    async def context_ids(self) -> list[int]:
        """Generate's ``context``: token ids of the prompt and the answer (after :meth:`chunks`)."""
        ...


@dataclass(frozen=True)
class Embedding:
    """One input's vector as the runner returns it (not yet normalised) and the tokens it read."""

    vector: list[float]
    tokens: int


class ModelRunner(Protocol):
    """A loaded model (Ollama's ``llm.LlamaServer``); see the module docstring for the contract.

    ``model`` arguments name the model a request was made for: two names of one model file share a
    runner, while the template, system prompt and digest come from each name."""

    #: True when the runner evaluates prompts and times answers itself (a real model).
    measured: bool

    @property
    def pid(self) -> int | None:
        """The runner's process, when it has one of its own."""
        ...

    @property
    def alive(self) -> bool:
        """False once the runner can answer no more (its process ended): the next request reloads."""
        ...

    @property
    def size(self) -> int | None:
        """Bytes the loaded model holds (``/api/ps``), or None to report the model's file sizes."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def render(self, request: CompletionRequest) -> str: ...

    async def embed(self, model: LocalModel, text: str) -> Embedding: ...

    async def tokenize(self, model: LocalModel, text: str) -> list[int]: ...

    async def truncated(self, model: LocalModel, text: str, tokens: int) -> str:
        """The text of the first ``tokens`` tokens of ``text`` (Ollama detokenizes what it keeps)."""
        ...

    async def close(self) -> None: ...


class InferenceEngine(Protocol):
    """What loads models into runners; see the module docstring for the contract."""

    #: The name the load log line and ``/api/ps`` diagnostics use (``synthetic``, ``llama.cpp``).
    name: str

    async def load(self, model: LocalModel, options: LoadOptions) -> ModelRunner:
        """Load ``model``; raise :class:`EngineError` with Ollama's message when it cannot load."""
        ...


# --------------------------------------------------------------------------------------------------
# The synthetic engine


class _SyntheticCompletion:
    timings = None

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

    async def chunks(self) -> AsyncIterator[Chunk]:
        for chunk in self._generation.chunks():
            yield chunk

    async def context_ids(self) -> list[int]:
        return [*self._prompt_ids, *self._generation.response_token_ids()]


class SyntheticRunner:
    """Deterministic answers for models without real weights: same request, same output, instantly."""

    measured = False
    size = None
    pid = None
    alive = True

    async def complete(self, request: CompletionRequest) -> Completion:
        return _SyntheticCompletion(request)

    async def render(self, request: CompletionRequest) -> str:
        return request.prompt_text()

    async def embed(self, model: LocalModel, text: str) -> Embedding:
        return Embedding(raw_embedding(model.digest_hex, text, model.embedding_length), count_tokens(text))

    async def tokenize(self, model: LocalModel, text: str) -> list[int]:
        return token_ids(text)

    async def truncated(self, model: LocalModel, text: str, tokens: int) -> str:
        return "".join(tokenize(text)[:tokens])

    async def close(self) -> None:
        return None


class SyntheticEngine:
    """The engine of header-only models: every load shares one stateless :class:`SyntheticRunner`."""

    name = "synthetic"

    def __init__(self) -> None:
        self.runner = SyntheticRunner()

    async def load(self, model: LocalModel, options: LoadOptions) -> ModelRunner:
        return self.runner


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
