"""The llama.cpp engine behind the emulator's engine seam (:mod:`..engine`): load, answer, unload.

The scheduler asks :func:`llama_claim` which models are this engine's (a GGUF with real weights, the
extra installed; one log line per load says which engine and why) and loads them with
:meth:`LlamaEngine.load`: one runner process per loaded model file, with the context, slots and batch
the scheduler chose. :class:`LlamaServedModel` then answers the routes' requests the way Ollama's
``llamaServerRunner`` does: the prompt rendered with the requesting model's template (two names of
one file share a runner but not a template), cut to the context or refused as
``completionPromptForRequest`` does, streamed token by token with llama-server's own counts and
durations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing.emulator.engine import (
    Completion,
    CompletionRequest,
    Embedding,
    EngineClaim,
    InferenceEngine,
    LoadOptions,
    ModelRunner,
    Timings,
)
from airflow_provider_ollama.testing.emulator.generation import Chunk
from airflow_provider_ollama.testing.emulator.llama.engine import (
    Answer,
    LlamaModel,
    ModelSpec,
    TemplateLayer,
    template_layer,
)
from airflow_provider_ollama.testing.emulator.llama.process import RunnerError
from airflow_provider_ollama.testing.emulator.llama.weights import choose_engine
from airflow_provider_ollama.testing.emulator.model import LocalModel

#: Ollama's refusal of a prompt that does not fit when the model cannot shift its context.
PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten the prompt, "
    "adjust the context length in settings, or use a model with a longer context length"
)


def llama_claim(store: ModelStore, *, threads: int = 1) -> EngineClaim:
    """The claim that gives models with real weights to llama.cpp (see :func:`.weights.choose_engine`);
    their runners use ``threads`` CPU threads unless a request says (0: llama.cpp's choice)."""
    engine = LlamaEngine(store, threads=threads)

    def claim(model: LocalModel) -> InferenceEngine | None:
        layer = model.manifest.layer("model")
        if layer is None:
            return None
        choice = choose_engine(store.blob_path(layer.digest), model.name.display_shortest())
        return engine if choice.real else None

    return claim


class LlamaEngine:
    """Loads a model's GGUF into a llama.cpp runner process."""

    name = "llama.cpp"

    def __init__(self, store: ModelStore, *, threads: int = 1) -> None:
        self.store = store
        self.threads = threads

    async def load(self, model: LocalModel, options: LoadOptions) -> ModelRunner:
        layer = model.manifest.layer("model")
        assert layer is not None, "the claim only takes models with a model layer"
        pooled = f"{model.architecture}.pooling_type" in model.gguf_metadata
        # Layers (template, system, params) are each request's: the spec only says what to load.
        spec = ModelSpec(path=self.store.blob_path(layer.digest), embedding=pooled)
        loaded = await LlamaModel.load(
            spec,
            num_ctx=options.num_ctx,
            num_parallel=options.num_parallel,
            num_batch=options.num_batch,
            num_thread=options.num_thread or self.threads,
        )
        return LlamaServedModel(loaded)


class LlamaServedModel:
    """A loaded model answering the routes (the seam's :class:`~..engine.ModelRunner`)."""

    measured = True

    def __init__(self, model: LlamaModel) -> None:
        self.model = model

    @property
    def size(self) -> int:
        return self.model.size

    @property
    def pid(self) -> int:
        return self.model.runner.pid

    @property
    def alive(self) -> bool:
        return self.model.runner.running

    async def render(self, request: CompletionRequest) -> str:
        """The prompt Ollama sends llama-server: raw, the template's fill-in, or the conversation."""
        if request.raw_prompt is not None:
            return request.raw_prompt
        template = _layer(request.model).template
        think = request.think_level
        if request.suffix:
            prompt = str(request.messages[0].get("content") or "") if request.messages else ""
            text = template.render([{"role": "user", "content": prompt}], suffix=request.suffix, think=think)
        else:
            text = template.render(request.messages, tools=request.tools, think=think)
        if request.context:
            text = await self.model.detokenize(request.context) + text
        return text

    async def complete(self, request: CompletionRequest) -> Completion:
        text = await self.render(request)
        return _LlamaCompletion(self.model, request, text, len(await self.model.tokenize(text)))

    async def embed(self, model: LocalModel, text: str) -> Embedding:
        vector, tokens = await self.model.embed(text)
        return Embedding(vector, tokens)

    async def tokenize(self, model: LocalModel, text: str) -> list[int]:
        return await self.model.tokenize(text)

    async def truncated(self, model: LocalModel, text: str, tokens: int) -> str:
        return await self.model.detokenize((await self.model.tokenize(text))[:tokens])

    async def close(self) -> None:
        await self.model.close()


def _layer(model: LocalModel) -> TemplateLayer:
    return template_layer(model.template)


class _LlamaCompletion:
    """One answer of a loaded model; the prompt is sent when :meth:`chunks` is first read."""

    def __init__(self, model: LlamaModel, request: CompletionRequest, text: str, prompt_tokens: int) -> None:
        self._model = model
        self._request = request
        self._text = text
        self._answer: list[str] = []
        self.prompt_eval_count = prompt_tokens
        self.done_reason = ""
        self.eval_count = 0
        self.timings: Timings | None = None

    async def _prompt(self) -> list[int] | None:
        """``completionPromptForRequest``: the prompt's tokens when it must be cut to the context
        (keeping ``num_keep`` tokens, then the newest), None to send the text as it is."""
        request, num_ctx = self._request, self._model.num_ctx
        has_media = any(message.get("images") for message in request.messages)
        if not request.truncate or has_media or num_ctx <= 1 or len(self._text.encode()) < num_ctx:
            return None
        tokens = await self._model.runner.tokenize(self._text, add_special=True)
        limit = num_ctx - 1
        if len(tokens) <= limit:
            return None
        if not request.shift:
            raise RunnerError(PROMPT_TOO_LONG, 400)
        keep = int(request.options.get("num_keep", 4))
        keep = len(tokens) if keep < 0 else keep + 1  # the tokenizer adds BOS
        keep = min(keep, limit)
        kept = num_ctx - max((num_ctx - max(0, keep)) // 2, 1)
        return [*tokens[:keep], *tokens[keep + len(tokens) - kept :]]

    async def chunks(self) -> AsyncIterator[Chunk]:
        request = self._request
        output = request.output_format
        fmt: Any = None if output.kind == "text" else ("json" if output.kind == "json" else output.schema)
        pieces = self._model.stream(
            self._text,
            prompt=await self._prompt(),
            layer=_layer(request.model),
            tools=request.tools,
            options=request.options,
            format=fmt,
            think=request.think_level if request.raw_prompt is None else None,
            logprobs=request.top_logprobs is not None,
            top_logprobs=request.top_logprobs or 0,
        )
        async for piece in pieces:
            self._answer.append(piece.raw)
            if piece.done:
                self._finish(piece)
            yield Chunk(
                content=piece.content,
                thinking=piece.thinking,
                tokens=0 if piece.done else 1,
                logprobs=_logprobs(piece.logprobs, bool(request.top_logprobs)),
                tool_calls=[dict(call) for call in piece.tool_calls],
            )

    def _finish(self, final: Answer) -> None:
        self.done_reason = final.done_reason
        self.eval_count = final.eval_count
        self.timings = Timings(
            prompt_eval_count=final.prompt_eval_count,
            prompt_eval_duration_ns=final.prompt_eval_duration_ns,
            eval_duration_ns=final.eval_duration_ns,
        )

    async def context_ids(self) -> list[int]:
        """Ollama's ``context``: the prompt and the answer, tokenized again."""
        return await self._model.tokenize(self._text + "".join(self._answer))


def _logprobs(probabilities: tuple[Mapping[str, Any], ...], with_top: bool) -> list[dict[str, Any]]:
    """llama-server's ``completion_probabilities`` as Ollama's ``logprobs`` (``convertLogprobs``)."""
    converted = []
    for probability in probabilities:
        entry = _token_logprob(probability)
        if with_top:
            alternatives = probability.get("top_logprobs") or probability.get("top_probs") or []
            entry["top_logprobs"] = [_token_logprob(alternative) for alternative in alternatives]
        converted.append(entry)
    return converted


def _token_logprob(probability: Mapping[str, Any]) -> dict[str, Any]:
    token = str(probability.get("token") or "")
    logprob = float(probability.get("logprob") or probability.get("prob") or 0.0)
    entry: dict[str, Any] = {"token": token, "logprob": logprob}
    if token:
        entry["bytes"] = list(token.encode())
    return entry
