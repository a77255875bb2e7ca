"""Deterministic text generation for the emulator: the model that answers generate and chat.

Same model digest, prompt, system, seed and format give the same output, token by token, so tests can
assert on it; ``num_predict``, ``stop``, JSON and JSON-schema formats, thinking and tool calls behave
as they do against a real model. Pure code: no I/O, no clock; the HTTP layer paces what it yields.

Token counts are an approximation: Ollama renders the model's Go template and counts with the
model's tokenizer; here text is cut into word pieces of up to eight letters, single digits groups and
punctuation (:func:`tokenize`), and each chat message adds a few template tokens.
"""

# ruff: noqa: S311 (seeded generators make the output reproducible; nothing here is secret)
from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_ollama.testing.emulator.gojson import go_quote
from airflow_provider_ollama.testing.emulator.schema_instance import schema_instance
from airflow_provider_ollama.testing.emulator.words import THINKING_OPENERS, WORDS

_TOKEN_RE = re.compile(r"\s*(?:[A-Za-z]{1,8}|\d{1,3}|\S)|\s+")
_VOCAB_SIZE = 128_000
#: Template tokens a chat message costs besides its text (role header and end marker).
MESSAGE_OVERHEAD_TOKENS = 4
#: Length of a plain-text answer when nothing cuts it short, in tokens.
DEFAULT_LENGTH_RANGE = (16, 64)
THINK_LEVELS = ("low", "medium", "high", "max")
_THINKING_LENGTH = {"low": (12, 23), "medium": (24, 47), "high": (48, 95), "max": (96, 160)}
_FORMAT_HINT = '; expected "json" or a valid JSON Schema object'

Channel = Literal["thinking", "content"]


class FormatError(ValueError):
    """A ``format`` value Ollama rejects; the message is Ollama's."""


@dataclass(frozen=True)
class OutputFormat:
    """What the answer must look like: free text, any JSON object, or an instance of a schema."""

    kind: Literal["text", "json", "schema"] = "text"
    schema: Mapping[str, Any] | None = None

    @classmethod
    def parse(cls, value: Any) -> OutputFormat:
        """Ollama's reading of a request's ``format``; raise :class:`FormatError` like Ollama does."""
        if value is None or value == "":
            return cls()
        if value == "json":
            return cls(kind="json")
        if isinstance(value, Mapping):
            return cls(kind="schema", schema=value)
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        raise FormatError(f"invalid format: {go_quote(raw)}{_FORMAT_HINT}")


@dataclass(frozen=True)
class GenerationRequest:
    """Everything the output depends on."""

    model_digest: str
    #: The text the model conditions on (system, history, prompt); it seeds the output.
    prompt: str
    seed: int = 0
    #: Ollama's num_predict: a positive value caps the tokens generated; 0 or negative means no cap.
    num_predict: int = 0
    stop: tuple[str, ...] = ()
    output_format: OutputFormat = field(default_factory=OutputFormat)
    #: None for no thinking, otherwise the level (``low``..``max``); the text comes before the answer.
    think_level: str | None = None
    #: Tools offered to a chat; when non-empty the answer is a call to one of them.
    tools: tuple[Mapping[str, Any], ...] = ()
    #: None for no log probabilities, otherwise how many alternatives to list per token.
    top_logprobs: int | None = None
    length_range: tuple[int, int] = DEFAULT_LENGTH_RANGE


@dataclass
class Chunk:
    """One piece of streamed output, as Ollama flushes it to the client."""

    content: str = ""
    thinking: str = ""
    #: Tokens generated since the previous chunk (held-back stop prefixes make this more than one).
    tokens: int = 0
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def tokenize(text: str) -> list[str]:
    """The emulator's tokenizer: pieces whose concatenation is ``text``."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def token_ids(text: str) -> list[int]:
    """Stable ids for the pieces of ``text`` (the ``context`` field of generate)."""
    return [_token_id(piece) for piece in _TOKEN_RE.findall(text)]


def prompt_token_count(system: str, messages: Sequence[Mapping[str, Any]], tools_text: str = "") -> int:
    """Approximate prompt tokens of a rendered chat template: one start token, texts, per-message overhead."""
    total = 1 + count_tokens(tools_text)
    if system:
        total += count_tokens(system) + MESSAGE_OVERHEAD_TOKENS
    for message in messages:
        total += count_tokens(str(message.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS
    return total


class Generation:
    """One answer; iterate :meth:`chunks` once, then read :attr:`done_reason` and :attr:`eval_count`."""

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.done_reason = "stop"
        self.eval_count = 0

    def chunks(self) -> Iterator[Chunk]:
        """Stream the answer; holds back text that could start a stop sequence, like Ollama's runner."""
        request = self.request
        stops = tuple(stop for stop in request.stop if stop)
        pending: list[str] = []
        pending_logprobs: list[dict[str, Any]] = []
        pending_tokens = 0
        channel: Channel = "thinking"
        rng = random.Random(self._seed("logprobs"))
        for token_channel, token in self._planned_tokens():
            if token_channel != channel:
                if pending:
                    yield _chunk(channel, "".join(pending), pending_tokens, pending_logprobs)
                pending, pending_logprobs, pending_tokens = [], [], 0
                channel = token_channel
            if isinstance(token, dict):  # a whole tool call: stop and num_predict do not cut it
                call_tokens = count_tokens(json.dumps(token["function"]))
                self.eval_count += call_tokens
                yield Chunk(tokens=call_tokens, tool_calls=[token])
                continue
            self.eval_count += 1
            pending_tokens += 1
            pending.append(token)
            if request.top_logprobs is not None:
                pending_logprobs.append(_logprob(token, request.top_logprobs, rng))
            joined = "".join(pending)
            cut = _first_stop(joined, stops)
            if cut is not None:
                self.done_reason = "stop"
                yield _chunk(channel, joined[:cut], pending_tokens, pending_logprobs)
                return
            if request.num_predict > 0 and self.eval_count >= request.num_predict:
                self.done_reason = "length"
                yield _chunk(channel, joined, pending_tokens, pending_logprobs)
                return
            if _ends_with_stop_prefix(joined, stops):
                continue
            yield _chunk(channel, joined, pending_tokens, pending_logprobs)
            pending, pending_logprobs, pending_tokens = [], [], 0
        self.done_reason = "stop"
        if pending:
            yield _chunk(channel, "".join(pending), pending_tokens, pending_logprobs)

    def response_token_ids(self) -> list[int]:
        """Ids of the tokens generated (after :meth:`chunks` ran), recomputed so streaming keeps none."""
        ids: list[int] = []
        for _, token in self._planned_tokens():
            if len(ids) >= self.eval_count:
                break
            if isinstance(token, dict):
                ids.extend(token_ids(json.dumps(token["function"])))
            else:
                ids.append(_token_id(token))
        return ids[: self.eval_count]

    def _seed(self, purpose: str) -> int:
        request = self.request
        fmt = request.output_format
        material = json.dumps(
            [
                purpose,
                request.model_digest,
                request.prompt,
                request.seed,
                fmt.kind,
                fmt.schema,
                [tool.get("function", {}).get("name") for tool in request.tools],
            ],
            sort_keys=True,
            default=str,
        )
        return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")

    def _planned_tokens(self) -> Iterator[tuple[Channel, Any]]:
        """The model's tokens in order: thinking, then a tool call or the answer. Lazy, so memory stays flat."""
        request = self.request
        if request.think_level is not None:
            rng = random.Random(self._seed("thinking"))
            low, high = _THINKING_LENGTH.get(request.think_level, _THINKING_LENGTH["medium"])
            for token in _prose(rng, rng.randint(low, high), opener=rng.choice(THINKING_OPENERS)):
                yield "thinking", token
        rng = random.Random(self._seed("content"))
        if request.tools:
            yield "content", _tool_call(request.tools, rng)
            return
        fmt = request.output_format
        if fmt.kind == "json":
            for token in tokenize(json.dumps(_json_object(rng))):
                yield "content", token
        elif fmt.kind == "schema":
            for token in tokenize(json.dumps(schema_instance(fmt.schema, rng))):
                yield "content", token
        else:
            low, high = request.length_range
            for token in _prose(rng, rng.randint(low, high)):
                yield "content", token


def _prose(rng: random.Random, length: int, opener: str = "") -> Iterator[str]:
    """``length`` tokens of sentences: capitalised words, a full stop every 5 to 12 words and at the end."""
    produced = 0
    if opener:
        for token in tokenize(opener):
            if produced == length:
                return
            yield token
            produced += 1
    sentence_left = rng.randint(5, 12)
    start_of_sentence = True
    while produced < length:
        if sentence_left == 0 or (produced == length - 1 and not start_of_sentence):
            yield "."
            sentence_left = rng.randint(5, 12)
            start_of_sentence = True
        else:
            word = WORDS[rng.randrange(len(WORDS))]
            if start_of_sentence:
                word = word.capitalize()
            yield word if produced == 0 else f" {word}"
            sentence_left -= 1
            start_of_sentence = False
        produced += 1


def _json_object(rng: random.Random) -> dict[str, Any]:
    """What ``format: "json"`` answers: a small object of mixed values."""
    result: dict[str, Any] = {}
    for _ in range(rng.randint(2, 4)):
        key = WORDS[rng.randrange(len(WORDS))]
        kind = rng.randrange(4)
        if kind == 0:
            result[key] = " ".join(WORDS[rng.randrange(len(WORDS))] for _ in range(rng.randint(1, 4)))
        elif kind == 1:
            result[key] = rng.randint(0, 1000)
        elif kind == 2:
            result[key] = rng.random() < 0.5
        else:
            result[key] = [WORDS[rng.randrange(len(WORDS))] for _ in range(rng.randint(1, 3))]
    return result


def _tool_call(tools: Sequence[Mapping[str, Any]], rng: random.Random) -> dict[str, Any]:
    tool = tools[rng.randrange(len(tools))]
    function = tool.get("function") or {}
    parameters = function.get("parameters") or {"type": "object"}
    arguments = schema_instance(parameters, rng)
    call_id = "call_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    return {
        "id": call_id,
        "function": {
            "index": 0,
            "name": str(function.get("name", "")),
            "arguments": arguments if isinstance(arguments, dict) else {},
        },
    }


def _chunk(channel: Channel, text: str, tokens: int, logprobs: list[dict[str, Any]]) -> Chunk:
    if channel == "thinking":
        return Chunk(thinking=text, tokens=tokens, logprobs=list(logprobs))
    return Chunk(content=text, tokens=tokens, logprobs=list(logprobs))


def _logprob(token: str, alternatives: int, rng: random.Random) -> dict[str, Any]:
    logprob = -round(rng.uniform(0.001, 2.5), 6)
    entry: dict[str, Any] = {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    if alternatives > 0:
        others = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        floor = logprob
        for _ in range(alternatives - 1):
            floor -= round(rng.uniform(0.1, 2.0), 6)
            word = " " + WORDS[rng.randrange(len(WORDS))]
            others.append({"token": word, "logprob": round(floor, 6), "bytes": list(word.encode())})
        entry["top_logprobs"] = others
    return entry


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    positions = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(positions) if positions else None


def _ends_with_stop_prefix(text: str, stops: Sequence[str]) -> bool:
    return any(text.endswith(stop[:length]) for stop in stops for length in range(1, len(stop)))


def _token_id(piece: str) -> int:
    return zlib.crc32(piece.encode()) % _VOCAB_SIZE
