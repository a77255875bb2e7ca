"""A scripted stand-in for OllamaHook's async calls, for faults the emulator cannot cause on cue.

It answers like the real client (ollama response models), sleeps a chosen latency per prompt,
raises scripted errors, and counts calls, cancellations and peak concurrency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ollama import ChatResponse, EmbedResponse, GenerateResponse, Message


class StubClient:
    """Satisfies ``GenerationClient``; ``failures[prompt]`` lists errors raised on successive calls."""

    def __init__(
        self,
        *,
        latency: Callable[[str], float] | float = 0.0,
        failures: Mapping[str, Sequence[BaseException]] | None = None,
        text: Callable[[str], str] = lambda prompt: f"echo {prompt}",
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self._latency = latency
        self._failures = {prompt: list(errors) for prompt, errors in (failures or {}).items()}
        self._text = text
        self._tool_calls = tool_calls
        self.calls: list[str] = []
        self.kwargs: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.cancelled = 0
        self.finished: list[str] = []  # keys in completion order

    async def _serve(self, key: str, kwargs: dict[str, Any]) -> None:
        self.calls.append(key)
        self.kwargs.append(kwargs)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            delay = self._latency(key) if callable(self._latency) else self._latency
            await asyncio.sleep(delay)
            scripted = self._failures.get(key)
            if scripted:
                raise scripted.pop(0)
            self.finished.append(key)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def agenerate(self, model: str, prompt: str, **kwargs: Any) -> GenerateResponse:
        await self._serve(prompt, kwargs)
        text = self._text(prompt)
        return GenerateResponse(
            model=model,
            response=text,
            done=True,
            done_reason="stop",
            prompt_eval_count=len(prompt.split()),
            eval_count=len(text.split()),
            total_duration=2_000_000,
            load_duration=1_000,
            eval_duration=1_000_000,
        )

    async def achat(self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> ChatResponse:
        key = str(messages[-1]["content"])
        await self._serve(key, {**kwargs, "messages": list(messages)})
        text = self._text(key)
        calls = [Message.ToolCall.model_validate({"function": call}) for call in self._tool_calls or ()]
        return ChatResponse(
            model=model,
            message=Message(role="assistant", content="" if calls else text, tool_calls=calls or None),
            done=True,
            done_reason="stop",
            prompt_eval_count=3,
            eval_count=len(text.split()),
            eval_duration=500_000,
        )

    async def aembed(self, model: str, input: str | Sequence[str], **kwargs: Any) -> EmbedResponse:
        texts = [input] if isinstance(input, str) else list(input)
        await self._serve("embed:" + "|".join(texts), {**kwargs, "input": texts})
        for text in texts:
            scripted = self._failures.get(text)
            if scripted:
                raise scripted[0]  # a bad input keeps failing, alone or in company
        return EmbedResponse(
            model=model,
            embeddings=[[float(len(text)), 1.0] for text in texts],
            prompt_eval_count=sum(len(text.split()) for text in texts),
        )
