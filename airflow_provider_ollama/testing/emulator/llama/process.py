"""One loaded model: a runner process (llama.cpp's server) and the HTTP calls Ollama 0.33 makes to it.

:class:`LlamaRunner` is the emulator's counterpart of Ollama's ``llamaServerRunner``
(``llm/llama_server.go``): it starts the runner with the context, slots and batch Ollama would pass to
``llama-server``, waits for it to load, and then sends ``/completion`` (streamed), ``/v1/embeddings``,
``/tokenize`` and ``/detokenize`` requests shaped as Ollama shapes them. A load that fails, or a runner
that dies mid-answer, becomes a :class:`RunnerError` with Ollama's message and the runner's own error
lines; the emulator itself keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_ollama.testing.emulator.engine import EngineError
from airflow_provider_ollama.testing.emulator.llama.runner_log import RunnerLog

log = logging.getLogger(__name__)

#: Ollama's OLLAMA_LOAD_TIMEOUT default: how long a load may go without progress.
DEFAULT_LOAD_TIMEOUT = 300.0
#: Ollama stops a stream whose trimmed token repeats more than this many times in a row.
TOKEN_REPEAT_LIMIT = 30
_STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, "
    "check ollama server logs for details"
)
_HTTP_TIMEOUT = httpx.Timeout(None, connect=10.0)


class RunnerError(EngineError):
    """A load or request the runner failed; ``status_code`` is the HTTP status Ollama answers with."""


@dataclass(frozen=True)
class RunnerConfig:
    """What a runner is started with; the fields are Ollama's load-time options."""

    model_path: Path
    num_ctx: int  # per slot, as the request's options.num_ctx
    num_parallel: int = 1  # OLLAMA_NUM_PARALLEL
    num_batch: int = 512  # api.DefaultOptions().NumBatch
    num_thread: int = 0  # 0: llama.cpp decides
    embedding: bool = False  # the model has a pooling type
    rendered_prompts: bool = True  # prompts come rendered by a Go template (llama-server --no-jinja)
    load_timeout: float = DEFAULT_LOAD_TIMEOUT

    def arguments(self) -> list[str]:
        """The runner's command line, mirroring Ollama's llama-server flags for these options."""
        arguments = [
            "--model",
            str(self.model_path),
            # Ollama: "-c num_ctx*numParallel -np numParallel"
            "--ctx-size",
            str(self.num_ctx * self.num_parallel),
            "--parallel",
            str(self.num_parallel),
        ]
        batch = self.num_batch
        if self.embedding:
            arguments.append("--embedding")
            # Ollama's embedding batch: num_batch, capped at the whole context
            batch = min(batch, self.num_ctx * self.num_parallel) if batch > 0 else 0
        if batch > 0:
            arguments += ["--batch-size", str(batch)]
        if self.num_thread > 0:
            arguments += ["--threads", str(self.num_thread)]
        if self.rendered_prompts:
            arguments.append("--no-jinja")
        return arguments


@dataclass(frozen=True)
class CompletionChunk:
    """A piece of a streamed completion; the last one has ``done`` and the counts and durations."""

    content: str
    done: bool = False
    done_reason: str = ""  # "stop" or "length", on the last chunk
    prompt_eval_count: int = 0
    prompt_eval_duration_ns: int = 0
    eval_count: int = 0
    eval_duration_ns: int = 0
    logprobs: tuple[Mapping[str, Any], ...] = ()


class LlamaRunner:
    """A started runner process serving one model; use :meth:`start`, then requests, then :meth:`close`."""

    def __init__(self, config: RunnerConfig, process: asyncio.subprocess.Process, log_: RunnerLog) -> None:
        self.config = config
        self._process = process
        self._log = log_
        self._stderr_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.num_parallel)
        self.load_duration_ns = 0
        #: Set when a request found the runner gone (before its exit status is even collected).
        self._stopped_answering = False

    # ---------------------------------------------------------------------------------------- life cycle

    @classmethod
    async def start(cls, config: RunnerConfig) -> LlamaRunner:
        """Start a runner and wait until its model is loaded; :class:`RunnerError` if it cannot load."""
        started = time.monotonic_ns()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "airflow_provider_ollama.testing.emulator.llama.runner",
            *config.arguments(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        runner = cls(config, process, RunnerLog())
        runner._stderr_task = asyncio.create_task(runner._read_stderr())
        try:
            address = await runner._wait_until_loaded()
        except BaseException:
            await runner.close()
            raise
        runner._client = httpx.AsyncClient(base_url=address, timeout=_HTTP_TIMEOUT, trust_env=False)
        runner.load_duration_ns = time.monotonic_ns() - started
        return runner

    async def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        async for raw in self._process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._log.feed(line)
            log.debug("llama runner %s: %s", self._process.pid, line)

    async def _wait_until_loaded(self) -> str:
        assert self._process.stdout is not None
        ready = asyncio.ensure_future(self._process.stdout.readline())
        exited = asyncio.ensure_future(self._process.wait())
        try:
            done, _ = await asyncio.wait(
                {ready, exited}, timeout=self.config.load_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if ready in done and ready.result():
            exited.cancel()
            return str(json.loads(ready.result())["address"])
        if not done:
            exited.cancel()
            raise RunnerError(
                f"timed out waiting for llama runner to start - {self._log.last_error}".rstrip()
            )
        await exited  # stdout closed: the process is ending
        if self._stderr_task is not None:
            await self._stderr_task  # every error line read before the message is built
        raise RunnerError(self._terminated_message())

    def _terminated_message(self) -> str:
        code = self._process.returncode
        status = f"exit status {code}" if code is not None and code >= 0 else f"signal: {-(code or 0)}"
        message = self._log.last_error
        return f"llama runner process has terminated: {status}" + (f": {message}" if message else "")

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the runner can still answer: its process has not ended and no request lost it."""
        return self._process.returncode is None and not self._stopped_answering

    @property
    def memory_size(self) -> int:
        """Bytes the loaded model holds (weights, KV cache, compute buffers), as ``/api/ps`` reports it.

        Ollama sums llama-server's buffer-size log lines and falls back to the file size."""
        return self._log.allocated_bytes or self.config.model_path.stat().st_size

    async def close(self) -> None:
        """Stop the runner (closing its stdin ends it; a kill follows if it does not) and wait for it."""
        if self._client is not None:
            await self._client.aclose()
        if self._process.stdin is not None and not self._process.stdin.is_closing():
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), timeout=10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self._stderr_task is not None:
            await self._stderr_task

    # ------------------------------------------------------------------------------------------ requests

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or not self.running:
            raise RunnerError(self._terminated_message())
        return self._client

    def _stopped(self) -> RunnerError:
        self._stopped_answering = True
        message = self._log.last_error
        return RunnerError(f"{_STOPPED}: {message}" if message else _STOPPED)

    async def completion(self, request: Mapping[str, Any]) -> AsyncIterator[CompletionChunk]:
        """Stream ``/completion`` for an Ollama-shaped request body (see :mod:`.requests`).

        Waits for a free slot first (one of ``num_parallel``), as Ollama's runner semaphore does."""
        async with self._slots:
            body = {**request, "stream": True}
            try:
                async with self._http().stream("POST", "/completion", json=body) as response:
                    if response.status_code >= 400:
                        # Ollama relays llama-server's whole error body as the message.
                        error = (await response.aread()).decode(errors="replace").strip()
                        raise RunnerError(error, response.status_code)
                    async for chunk in _completion_chunks(response):
                        yield chunk
            except httpx.TransportError as error:
                raise self._stopped() from error

    async def embedding(self, text: str) -> tuple[list[float], int]:
        """The embedding of ``text`` and its prompt token count (``/v1/embeddings``, like Ollama)."""
        async with self._slots:
            try:
                response = await self._http().post("/v1/embeddings", json={"input": text})
            except httpx.TransportError as error:
                raise self._stopped() from error
        if response.status_code >= 400:
            message = _error_message(response.content)
            if _is_input_limit(message):
                raise RunnerError("the input length exceeds the context length", 400)
            raise RunnerError(message, response.status_code)
        document = response.json()
        item = document["data"][0]
        tokens = int(document.get("usage", {}).get("prompt_tokens") or item.get("tokens_evaluated") or 0)
        return [float(value) for value in item["embedding"]], tokens

    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        """Token ids of ``text`` by the model's own tokenizer (special tokens in the text are parsed)."""
        response = await self._post("/tokenize", {"content": text, "add_special": add_special})
        return [int(token) for token in response["tokens"]]

    async def detokenize(self, tokens: list[int]) -> str:
        return str((await self._post("/detokenize", {"tokens": tokens}))["content"])

    async def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http().post(path, json=body)
        except httpx.TransportError as error:
            raise self._stopped() from error
        if response.status_code >= 400:
            raise RunnerError(f"{path.strip('/')} error: {response.text}", response.status_code)
        document: dict[str, Any] = response.json()
        return document


async def _completion_chunks(response: httpx.Response) -> AsyncIterator[CompletionChunk]:
    """Ollama's reading of llama-server's event stream: pieces, then one final chunk with the timings."""
    last_token, repeats = "", 0
    async for line in response.aiter_lines():
        if not line or line.startswith(":"):
            continue
        event = json.loads(line.removeprefix("data: "))
        content = str(event.get("content") or "")
        if content.strip() == last_token:
            repeats += 1
            if repeats > TOKEN_REPEAT_LIMIT:
                return  # Ollama aborts such a prediction without a final chunk
        else:
            last_token, repeats = content.strip(), 0
        probabilities = tuple(event.get("completion_probabilities") or ())
        if not event.get("stop"):
            if content:
                yield CompletionChunk(content=content, logprobs=probabilities)
            continue
        timings = event.get("timings") or {}
        yield CompletionChunk(
            content=content,
            done=True,
            done_reason="length" if event.get("stop_type") == "limit" else "stop",
            prompt_eval_count=int(timings.get("cache_n", 0)) + int(timings.get("prompt_n", 0)),
            prompt_eval_duration_ns=int(float(timings.get("prompt_ms", 0)) * 1_000_000),
            eval_count=int(timings.get("predicted_n", 0)),
            eval_duration_ns=int(float(timings.get("predicted_ms", 0)) * 1_000_000),
            logprobs=probabilities,
        )
        return


def _error_message(body: bytes) -> str:
    """llama-server's error text: ``{"error": {"message": ...}}`` or ``{"error": "..."}``, else the body."""
    text = body.decode(errors="replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        error = json.loads(text).get("error")
        if isinstance(error, str):
            return error.strip()
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]).strip()
    return text


def _is_input_limit(message: str) -> bool:
    lowered = message.lower()
    needles = ("too large", "context size", "context length", "physical batch size", "exceeds the available")
    return any(needle in lowered for needle in needles)
