"""Reading a server-sent events answer (the Anthropic and OpenAI Responses streams) in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """``event:``/``data:`` pairs of a complete stream, checking its status, content type and framing."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    events = []
    for block in response.text.split("\n\n")[:-1]:
        kind, data = block.split("\n")
        assert kind.startswith("event: ")
        assert data.startswith("data: ")
        events.append((kind[7:], json.loads(data[6:])))
    return events
