"""The real-weights engine: generate, chat, embed and tokenize on a model loaded in llama.cpp.

:class:`LlamaModel` is what the emulator's routes call for a model whose GGUF holds real weights
(:func:`~.weights.has_real_weights`). It owns one runner process (:class:`~.process.LlamaRunner`) with
``num_parallel`` slots and turns Ollama's request fields into what Ollama 0.33 sends llama-server:
the prompt rendered with the model's Go template (:mod:`.prompt`), the options and format as a
``/completion`` body (:mod:`.requests`), and the streamed answer back into Ollama's chunks with real
token counts and durations. It knows nothing of HTTP routes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing.emulator.llama.process import (
    CompletionChunk,
    LlamaRunner,
    RunnerConfig,
)
from airflow_provider_ollama.testing.emulator.llama.prompt import (
    Message,
    PromptTemplate,
    chat_messages,
    fitted_prompt,
    generate_messages,
)
from airflow_provider_ollama.testing.emulator.llama.requests import completion_request
from airflow_provider_ollama.testing.emulator.llama.thinking import ThinkingSplitter, infer_tags
from airflow_provider_ollama.testing.emulator.llama.tools import ToolCallReader, tool_call_tag
from airflow_provider_ollama.testing.emulator.model import LocalModel

log = logging.getLogger(__name__)

#: The context a model gets when neither the request nor OLLAMA_CONTEXT_LENGTH says (Ollama: 4096
#: without a large GPU), capped at the model's trained context.
DEFAULT_NUM_CTX = 4096


@dataclass(frozen=True)
class Answer:
    """One streamed piece of a generate or chat answer; the last has ``done`` and the metrics."""

    content: str = ""
    thinking: str = ""
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    done: bool = False
    done_reason: str = ""
    prompt_eval_count: int = 0
    prompt_eval_duration_ns: int = 0
    eval_count: int = 0
    eval_duration_ns: int = 0
    total_duration_ns: int = 0
    context: tuple[int, ...] = ()  # generate only: prompt and answer tokens, Ollama's deprecated field
    logprobs: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    #: The runner's text behind this piece, before thinking and tool calls were split off (what
    #: Ollama appends to the prompt for generate's ``context``).
    raw: str = field(default="", repr=False)


@dataclass(frozen=True)
class ModelSpec:
    """What the engine needs of a stored model: its GGUF, its layers' texts and its load options."""

    path: Path
    template: str = "{{ .Prompt }}"
    system: str = ""
    messages: tuple[Message, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the params layer
    embedding: bool = False  # the GGUF has a pooling type


def model_spec(model: LocalModel, store: ModelStore) -> ModelSpec | None:
    """The engine's view of a stored model (``None`` when it has no model layer): its GGUF blob and the
    template, system, messages and params layers the emulator read from the store."""
    layer = model.manifest.layer("model")
    if layer is None:
        return None
    return ModelSpec(
        path=store.blob_path(layer.digest),
        template=model.template,
        system=model.system,
        messages=model.messages,
        parameters=model.parameters,
        embedding=model.supports("embedding"),
    )


@dataclass(frozen=True)
class TemplateLayer:
    """What Ollama reads from a model's TEMPLATE: the parsed template, where thinking starts and
    ends, and the text before a tool call."""

    template: PromptTemplate
    thinking_tags: tuple[str, str]
    tool_tag: str


@functools.lru_cache(maxsize=64)
def template_layer(source: str) -> TemplateLayer:
    """The template layer ``source``, parsed once (a runner serves every name of its model file)."""
    template = PromptTemplate(source)
    return TemplateLayer(template, infer_tags(template.template.nodes), tool_call_tag(source))


class LlamaModel:
    """A model loaded in a llama.cpp runner; create with :meth:`load`, end with :meth:`close`."""

    def __init__(self, spec: ModelSpec, runner: LlamaRunner, num_ctx: int) -> None:
        self.spec = spec
        self.runner = runner
        self.num_ctx = num_ctx
        self.layer = template_layer(spec.template)
        self.template = self.layer.template
        self.thinking_tags = self.layer.thinking_tags

    @classmethod
    async def load(
        cls,
        spec: ModelSpec,
        *,
        num_ctx: int = DEFAULT_NUM_CTX,
        num_parallel: int = 1,
        num_batch: int = 512,
        num_thread: int = 0,
        load_timeout: float | None = None,
    ) -> LlamaModel:
        """Start a runner for ``spec`` with ``num_parallel`` slots of ``num_ctx`` tokens each.

        Raises :class:`~.process.RunnerError` with Ollama's message when the weights do not load."""
        config = RunnerConfig(
            model_path=spec.path,
            num_ctx=num_ctx,
            num_parallel=num_parallel,
            num_batch=num_batch,
            num_thread=num_thread,
            embedding=spec.embedding,
        )
        if load_timeout is not None:
            config = replace(config, load_timeout=load_timeout)
        runner = await LlamaRunner.start(config)
        log.info(
            "llama runner %s loaded %s in %.2f s (%d MiB, %d slots of %d tokens)",
            runner.pid,
            spec.path.name,
            runner.load_duration_ns / 1e9,
            runner.memory_size >> 20,
            num_parallel,
            num_ctx,
        )
        return cls(spec, runner, num_ctx)

    @staticmethod
    def _thinking(think: bool | str | None, prompt: str, tags: tuple[str, str]) -> ThinkingSplitter | None:
        """A splitter when thinking is asked for and the template has tags (Ollama's thinking parser);
        a prompt that already ends with the opening tag starts it inside the thinking."""
        opening, closing = tags
        if not think or think == "false" or not (opening and closing):
            return None
        splitter = ThinkingSplitter(opening, closing)
        if prompt.strip().endswith(opening):
            splitter.add(opening)
        return splitter

    @property
    def size(self) -> int:
        """Bytes the loaded model holds, as ``/api/ps`` shows them."""
        return self.runner.memory_size

    async def close(self) -> None:
        await self.runner.close()

    # ------------------------------------------------------------------------------------ generation

    def _body(
        self,
        text: str | Sequence[int],
        options: Mapping[str, Any] | None,
        format: Any,
        logprobs: bool,
        top_logprobs: int,
    ) -> dict[str, Any]:
        """The /completion body: the params layer under the request's options, as Ollama merges them."""
        merged = {**self.spec.parameters, **(options or {})}
        return completion_request(
            text, merged, num_ctx=self.num_ctx, format=format, logprobs=logprobs, top_logprobs=top_logprobs
        )

    async def generate(
        self,
        prompt: str,
        *,
        system: str = "",
        raw: bool = False,
        format: Any = None,
        options: Mapping[str, Any] | None = None,
        think: bool | str | None = None,
        suffix: str = "",
        context: Sequence[int] | None = None,
        logprobs: bool = False,
        top_logprobs: int = 0,
    ) -> AsyncIterator[Answer]:
        """Ollama's ``/api/generate`` on this model, streamed; the last answer carries ``context``."""
        text = prompt
        if not raw:
            if suffix:
                text = self.template.render([{"role": "user", "content": prompt}], suffix=suffix, think=think)
            else:
                messages = generate_messages(
                    prompt,
                    system=system,
                    model_system=self.spec.system,
                    model_messages=self.spec.messages,
                    with_context=context is not None,
                )
                text = await fitted_prompt(
                    self.template, messages, num_ctx=self.num_ctx, tokenize=self.runner.tokenize, think=think
                )
            if context:
                text = await self.runner.detokenize(list(context)) + text
        answer: list[str] = []
        async for piece in self.stream(
            text,
            options=options,
            format=format,
            think=None if raw else think,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
        ):
            answer.append(piece.raw)
            if piece.done:
                piece = replace(piece, context=tuple(await self.runner.tokenize(text + "".join(answer))))
            yield piece

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        format: Any = None,
        options: Mapping[str, Any] | None = None,
        think: bool | str | None = None,
        truncate: bool = True,
        logprobs: bool = False,
        top_logprobs: int = 0,
    ) -> AsyncIterator[Answer]:
        """Ollama's ``/api/chat`` on this model, streamed; a tool call arrives whole in ``tool_calls``."""
        conversation = chat_messages(
            messages, model_system=self.spec.system, model_messages=self.spec.messages
        )
        text = await fitted_prompt(
            self.template,
            conversation,
            num_ctx=self.num_ctx,
            tokenize=self.runner.tokenize,
            tools=tools,
            think=think,
            truncate=truncate,
        )
        async for piece in self.stream(
            text,
            tools=tools,
            options=options,
            format=format,
            think=think,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
        ):
            yield piece

    async def stream(
        self,
        text: str,
        *,
        prompt: Sequence[int] | None = None,
        layer: TemplateLayer | None = None,
        tools: Sequence[Mapping[str, Any]] = (),
        options: Mapping[str, Any] | None = None,
        format: Any = None,
        think: bool | str | None = None,
        logprobs: bool = False,
        top_logprobs: int = 0,
    ) -> AsyncIterator[Answer]:
        """The answer to a rendered prompt ``text`` (or its tokens ``prompt``, once cut to the context),
        read as Ollama reads llama-server's stream: thinking split off at the template's tags, an
        answer that is a tool call held back and returned whole, real counts on the last piece. A
        stream the runner gives up on (token repeats) ends without a ``done`` piece."""
        layer = layer or self.layer
        started = time.monotonic_ns()
        body = self._body(text if prompt is None else prompt, options, format, logprobs, top_logprobs)
        reader = ToolCallReader(layer.tool_tag, tools) if tools else None
        held = ""  # the answer so far, held back while it may still be a tool call
        splitter = self._thinking(think, text, layer.thinking_tags)
        async for chunk in self.runner.completion(body):
            raw = chunk.content
            thinking = ""
            if splitter is not None:
                thinking, content = splitter.add(chunk.content)
                chunk = replace(chunk, content=content)
                if thinking and not chunk.done:
                    yield Answer(thinking=thinking, logprobs=chunk.logprobs, raw=raw)
                    thinking, raw = "", ""
            if reader is not None:
                held += chunk.content
                if not chunk.done and reader.could_be_call(held):
                    continue
                calls = reader.calls(held) if chunk.done else []
                if calls:
                    yield replace(_final(chunk, started), content="", tool_calls=tuple(calls), raw=raw)
                    return
                chunk, reader = replace(chunk, content=held), None  # not a call: release what was held
            if chunk.done:
                yield replace(_final(chunk, started), thinking=thinking, raw=raw)
            elif chunk.content or raw:
                yield Answer(content=chunk.content, logprobs=chunk.logprobs, raw=raw)

    # ------------------------------------------------------------------------------------ embeddings

    async def embed(self, text: str) -> tuple[list[float], int]:
        """The embedding of ``text`` (normalised by llama.cpp) and its prompt token count."""
        return await self.runner.embedding(text)

    async def tokenize(self, text: str) -> list[int]:
        return await self.runner.tokenize(text)

    async def detokenize(self, tokens: Sequence[int]) -> str:
        return await self.runner.detokenize(list(tokens))


def _final(chunk: CompletionChunk, started_ns: int, context: tuple[int, ...] = ()) -> Answer:
    return Answer(
        content=chunk.content,
        done=True,
        done_reason=chunk.done_reason,
        prompt_eval_count=chunk.prompt_eval_count,
        prompt_eval_duration_ns=chunk.prompt_eval_duration_ns,
        eval_count=chunk.eval_count,
        eval_duration_ns=chunk.eval_duration_ns,
        total_duration_ns=time.monotonic_ns() - started_ns,
        context=context,
        logprobs=chunk.logprobs,
    )
