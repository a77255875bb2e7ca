"""Server-sent event streams for the emulator's Anthropic Messages and OpenAI Responses endpoints.

Both turn the native chat's NDJSON events into typed ``event:``/``data:`` records through a
converter, and end the same way when the native stream fails part way: Ollama's writers decode the
native ``{"error": ...}`` line as an empty chunk and simply stop, so the stream ends without an event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from starlette.responses import StreamingResponse

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.http import ApiError

_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "connection": "keep-alive"}


class StreamConverter(Protocol):
    """Turns one native chat event into the ``(event type, data)`` records it stands for."""

    def process(self, event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]: ...


def sse_record(kind: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event: ``event: <kind>``, ``data: <compact JSON>`` and a blank line."""
    return b"event: " + kind.encode() + b"\ndata: " + gojson.dumps(data) + b"\n\n"


def sse_response(
    first: Mapping[str, Any] | None, events: AsyncIterator[dict[str, Any]], converter: StreamConverter
) -> StreamingResponse:
    """Stream ``first`` (the event already read to catch an early error; ``None`` if there was none)
    and the rest of ``events`` through ``converter``; the native stream is closed however it ends."""

    async def records() -> AsyncIterator[bytes]:
        try:
            for event in [first] if first is not None else []:
                for kind, data in converter.process(event):
                    yield sse_record(kind, data)
            try:
                async for event in events:
                    for kind, data in converter.process(event):
                        yield sse_record(kind, data)
            except ApiError:
                return
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(records(), headers=_HEADERS)
