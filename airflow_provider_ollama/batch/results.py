"""The JSON-native records a batch produces: one per item (result or error) and one summary.

They go to XCom or, one per line, to a JSONL file, so they hold only plain JSON values, never
client objects, and stay small (no echo of the prompt, no token context).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from ollama import ChatResponse, EmbedResponse, GenerateResponse

from airflow_provider_ollama.batch.formats import JSONValue, ResponseParser

_NS_PER_SECOND = 1_000_000_000


class _GenerationRecordBase(TypedDict):
    index: int
    #: The text, or the parsed JSON value when the batch has a ``format``.
    response: JSONValue
    done_reason: str | None
    prompt_eval_count: int
    eval_count: int
    #: Durations in nanoseconds, as Ollama reports them.
    total_duration: int
    load_duration: int
    eval_duration: int
    #: eval_count / eval_duration; None when the server reported no eval time.
    tokens_per_second: float | None


class GenerationRecord(_GenerationRecordBase, total=False):
    """One generated item (generate or chat mode). Optional keys appear only when non-empty."""

    thinking: str
    #: Chat mode: the tools the assistant asked to call, as ``{"name", "arguments"}``.
    tool_calls: list[dict[str, Any]]


class EmbeddingRecord(TypedDict):
    """One embedded item: its L2-normalised vector.

    Token counts are per request, and one request embeds several items, so they go to the summary.
    """

    index: int
    embedding: list[float]


class ErrorRecord(TypedDict):
    """An item that failed (``on_error="collect"``): the exception's type name and its message."""

    index: int
    error: str
    message: str
    attempts: int


#: Whatever the batch writes for one item.
ItemRecord = GenerationRecord | EmbeddingRecord | ErrorRecord


class _BatchSummaryBase(TypedDict):
    #: Items in the batch, and how the whole batch ended (items from earlier attempts included).
    items: int
    succeeded: int
    failed: int
    #: Items an earlier attempt already wrote to the output and this run skipped.
    resumed: int
    #: The rest describes this run only.
    requests: int
    retries: int
    prompt_eval_count: int
    eval_count: int
    wall_seconds: float
    #: eval_count / wall_seconds: the batch's throughput, not one request's speed.
    tokens_per_second: float


class BatchSummary(_BatchSummaryBase, total=False):
    """What a batch did, small enough for XCom; ``uri`` names the results file when there is one."""

    uri: str


def is_error(record: ItemRecord) -> bool:
    """Whether ``record`` is an :class:`ErrorRecord`."""
    return "error" in record


def generation_record(index: int, response: GenerateResponse, parser: ResponseParser) -> GenerationRecord:
    """The record of one ``/api/generate`` answer; raises ``ResponseFormatError`` on a bad format."""
    record = _metrics_record(index, parser.parse(response.response or ""), response)
    if response.thinking:
        record["thinking"] = response.thinking
    return record


def chat_record(index: int, response: ChatResponse, parser: ResponseParser) -> GenerationRecord:
    """The record of one ``/api/chat`` answer: the assistant's content, thinking and tool calls."""
    message = response.message
    tool_calls = [
        {"name": call.function.name, "arguments": dict(call.function.arguments)}
        for call in message.tool_calls or ()
    ]
    # A reply that only calls tools has no content to parse, whatever the format.
    content: JSONValue = message.content or ""
    if content or not tool_calls:
        content = parser.parse(message.content or "")
    record = _metrics_record(index, content, response)
    if message.thinking:
        record["thinking"] = message.thinking
    if tool_calls:
        record["tool_calls"] = tool_calls
    return record


def embedding_records(indices: Sequence[int], response: EmbedResponse) -> list[EmbeddingRecord]:
    """One record per embedded input, matched to the inputs by position."""
    if len(response.embeddings) != len(indices):
        raise ValueError(
            f"the server returned {len(response.embeddings)} embeddings for {len(indices)} inputs"
        )
    return [
        {"index": index, "embedding": [float(value) for value in vector]}
        for index, vector in zip(indices, response.embeddings, strict=True)
    ]


def error_record(index: int, error: BaseException, attempts: int) -> ErrorRecord:
    """The record of a failed item; the message is the error's own, which carries no secrets."""
    return {"index": index, "error": type(error).__name__, "message": str(error), "attempts": attempts}


def tokens_per_second(tokens: int, nanoseconds: int | None) -> float | None:
    """Tokens per second over a duration in nanoseconds, rounded for humans; None without a duration."""
    if not nanoseconds:
        return None
    return round(tokens * _NS_PER_SECOND / nanoseconds, 2)


def _metrics_record(
    index: int, response_value: JSONValue, response: GenerateResponse | ChatResponse
) -> GenerationRecord:
    eval_count = response.eval_count or 0
    return {
        "index": index,
        "response": response_value,
        "done_reason": response.done_reason,
        "prompt_eval_count": response.prompt_eval_count or 0,
        "eval_count": eval_count,
        "total_duration": response.total_duration or 0,
        "load_duration": response.load_duration or 0,
        "eval_duration": response.eval_duration or 0,
        "tokens_per_second": tokens_per_second(eval_count, response.eval_duration),
    }
