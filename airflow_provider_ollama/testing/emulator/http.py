"""Request parsing and response shapes shared by every emulator route, with Ollama's exact rules.

One place for what clients observe beyond the payload: error bodies and their content types, Go's
JSON decoder messages, and the NDJSON streaming contract (errors before output get a real status,
errors after output become a final ``{"error": ...}`` line).

Contract for route handlers (both halves of the emulator use it):

* raise :class:`ApiError` anywhere in a handler to answer ``{"error": message}`` with its status;
* :func:`read_json_body` reads the body like gin's ``ShouldBindJSON``;
* :func:`ndjson_response` turns an async iterator of events into Ollama's streamed or single answer;
* :func:`json_response` / :func:`empty_response` for plain answers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from airflow_provider_ollama.testing.emulator import gojson

#: gin's ``c.JSON``: every ordinary JSON answer, success or error.
JSON_UTF8 = "application/json; charset=utf-8"
#: ``waitForStream`` and ``streamResponse`` set this bare type before writing, so gin keeps it.
JSON_PLAIN = "application/json"
NDJSON = "application/x-ndjson"

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")

_ANY_KIND = ("string", "number", "bool", "array", "object")
_NUMBER_TYPES = frozenset({"int", "int64", "float32", "float64"})


def _accepted_kinds(go_type: str) -> tuple[str, ...]:
    """The JSON kinds Go's decoder accepts for a field of ``go_type`` (a pointer accepts its target's)."""
    target = go_type.lstrip("*")
    if target == "interface {}" or target.endswith("RawMessage"):
        return _ANY_KIND
    if target.startswith("[]"):
        return ("array",)
    if target.startswith("map[") or "." in target:
        return ("object",)
    if target in _NUMBER_TYPES:
        return ("number",)
    return (target,)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with HTTP ``status``.

    Raised before a response starts it becomes that status; raised inside a stream after the first
    line it becomes the stream's final ``{"error": ...}`` line, exactly as Ollama does.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r})"


def json_response(body: Any, status: int = 200, *, content_type: str = JSON_UTF8) -> Response:
    """A JSON answer encoded as Go encodes it (compact, HTML-safe escapes)."""
    return Response(gojson.dumps(body), status_code=status, headers={"content-type": content_type})


def error_response(status: int, message: str, *, content_type: str = JSON_UTF8) -> Response:
    """Ollama's error body: ``{"error": message}``."""
    return json_response({"error": message}, status, content_type=content_type)


def empty_response(status: int = 200) -> Response:
    """An answer with no body and no content type (``c.Status`` in gin): copy, delete, blob upload."""
    return Response(b"", status_code=status)


async def read_json_body(
    request: Request,
    *,
    fields: Mapping[str, str] | None = None,
    struct: str = "Request",
    package: str = "api",
    empty_message: str = "missing request body",
) -> dict[str, Any]:
    """Decode the request body as gin's ``ShouldBindJSON`` would into an ``api.<struct>``.

    Empty body: 400 ``missing request body``. Malformed JSON: 400 with Go's decoder message (for
    example ``invalid character 'x' looking for beginning of value`` or ``unexpected EOF``). With
    ``fields`` (name -> Go type, e.g. ``{"model": "string", "insecure": "bool"}``) keys are matched
    case-insensitively like Go and mistyped values get Go's ``cannot unmarshal`` message.
    """
    body = await request.body()
    try:
        document = gojson.loads_request(body)
    except EOFError:
        raise ApiError(400, empty_message) from None
    except gojson.GoJSONError as error:
        raise ApiError(400, str(error)) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ApiError(
            400,
            f"json: cannot unmarshal {gojson.json_kind(document)} into Go value of type {package}.{struct}",
        )
    bound: dict[str, Any] = _bind_fields(document, fields, struct) if fields else document
    return bound


def _bind_fields(document: dict[str, Any], fields: Mapping[str, str], struct: str) -> dict[str, Any]:
    bound = dict(document)
    by_folded = {name.lower(): name for name in fields}
    for key in list(document):
        canonical = by_folded.get(key.lower())
        if canonical is not None and canonical != key and canonical not in document:
            bound[canonical] = bound.pop(key)
    for name, go_type in fields.items():
        value = bound.get(name)
        if value is None:
            continue
        kind = gojson.json_kind(value)
        if kind not in _accepted_kinds(go_type):
            raise ApiError(
                400,
                f"json: cannot unmarshal {kind} into Go struct field {struct}.{name} of type {go_type.lstrip('*')}",
            )
        if go_type.lstrip("*") in ("int", "int64") and isinstance(value, float) and not value.is_integer():
            raise ApiError(
                400,
                f"json: cannot unmarshal number {gojson.format_float(value)} into Go struct field "
                f"{struct}.{name} of type {go_type.lstrip('*')}",
            )
    return bound


EventReducer = Callable[[list[dict[str, Any]]], dict[str, Any]]


async def ndjson_response(
    events: AsyncIterator[dict[str, Any]], *, stream: bool, reduce: EventReducer | None = None
) -> Response:
    """Answer with a stream of events the way Ollama does.

    ``stream=True`` (Ollama's default when ``stream`` is absent): ``application/x-ndjson``, one JSON
    object per line, no blank lines. The first event is awaited before any header is sent, so an
    :class:`ApiError` (or any exception) raised before it becomes a real status with a JSON error
    body; one raised later becomes a final ``{"error": ...}`` line on a 200 stream.

    ``stream=False``: the events are drained and one JSON object answers. Without ``reduce`` this is
    ``waitForStream`` (pull, push, create): the last event, and an error as its status (500 unless the
    ``ApiError`` says otherwise). With ``reduce`` (generate, chat) the collected events are folded
    into one object by the caller's function and answered like ``c.JSON``.

    Runtime faults that act on streams (stall or exit after N lines) are applied by the fault
    middleware to every ``application/x-ndjson`` answer, so every streaming endpoint gets them.
    """
    if not stream:
        return await _single_response(events, reduce)
    iterator = aiter(events)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return Response(b"", headers={"content-type": NDJSON})
    except ApiError as error:
        await _close(iterator)
        return error_response(error.status, error.message, content_type=JSON_PLAIN)
    except Exception as error:
        _log.exception("stream failed before its first line")
        await _close(iterator)
        return error_response(500, str(error), content_type=JSON_PLAIN)
    return StreamingResponse(_lines(first, iterator), headers={"content-type": NDJSON})


async def _single_response(events: AsyncIterator[dict[str, Any]], reduce: EventReducer | None) -> Response:
    content_type = JSON_PLAIN if reduce is None else JSON_UTF8
    collected: list[dict[str, Any]] = []
    latest: dict[str, Any] = {"status": ""}
    try:
        async for event in events:
            if reduce is None:
                latest = event
            else:
                collected.append(event)
    except ApiError as error:
        return error_response(error.status, error.message, content_type=content_type)
    except Exception as error:
        _log.exception("request failed")
        return error_response(500, str(error), content_type=content_type)
    return json_response(latest if reduce is None else reduce(collected), content_type=content_type)


async def _lines(first: dict[str, Any], iterator: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        yield gojson.dumps_line(first)
        try:
            async for event in iterator:
                yield gojson.dumps_line(event)
        except ApiError as error:
            yield gojson.dumps_line({"error": error.message})
        except Exception as error:
            _log.exception("stream failed after output")
            yield gojson.dumps_line({"error": str(error)})
    finally:
        await _close(iterator)


async def _close(iterator: AsyncIterator[dict[str, Any]]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
