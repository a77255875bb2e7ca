"""Ollama's response contract for every route: error bodies, request decoding and NDJSON streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_ollama.testing._serving import BackgroundServer
from airflow_provider_ollama.testing.emulator.http import (
    ApiError,
    error_response,
    ndjson_response,
    read_json_body,
)
from tests.testing.emulator.support import (
    JSON_PLAIN,
    JSON_UTF8,
    assert_error,
    assert_stream_error,
    ndjson_lines,
)


async def _events(request: Request) -> AsyncIterator[dict[str, Any]]:
    fail_at = int(request.query_params.get("fail_at", "-1"))
    status = int(request.query_params.get("status", "500"))
    for index in range(3):
        if index == fail_at:
            raise ApiError(status, f"failed at {index}")
        yield {"status": f"step {index}"}


async def _stream(request: Request) -> Response:
    return await ndjson_response(_events(request), stream=request.query_params.get("stream") != "false")


async def _crash(request: Request) -> Response:
    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"status": "one"}
        raise RuntimeError("boom")

    return await ndjson_response(events(), stream=True)


async def _decode(request: Request) -> Response:
    body = await read_json_body(request, fields={"model": "string", "insecure": "bool"}, struct="PullRequest")
    return Response(repr(sorted(body.items())).encode())


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/stream", _stream),
            Route("/crash", _crash),
            Route("/decode", _decode, methods=["POST"]),
        ],
        exception_handlers={ApiError: _api_error},
    )
    with BackgroundServer(app) as server:
        yield server.url


def test_stream_is_one_json_object_per_line(base_url: str) -> None:
    lines = ndjson_lines(httpx.get(f"{base_url}/stream"))
    assert lines == [{"status": "step 0"}, {"status": "step 1"}, {"status": "step 2"}]


def test_error_before_the_first_line_gets_its_real_status(base_url: str) -> None:
    response = httpx.get(f"{base_url}/stream", params={"fail_at": 0, "status": 400})
    assert_error(response, 400, "failed at 0", content_type=JSON_PLAIN)


def test_error_after_output_becomes_a_final_error_line_with_200(base_url: str) -> None:
    lines = assert_stream_error(httpx.get(f"{base_url}/stream", params={"fail_at": 2}), "failed at 2")
    assert lines == [{"status": "step 0"}, {"status": "step 1"}]


def test_unexpected_exception_after_output_is_an_error_line_too(base_url: str) -> None:
    assert assert_stream_error(httpx.get(f"{base_url}/crash"), "boom") == [{"status": "one"}]


def test_non_streaming_answer_is_the_last_event(base_url: str) -> None:
    response = httpx.get(f"{base_url}/stream", params={"stream": "false"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_PLAIN
    assert response.json() == {"status": "step 2"}


def test_non_streaming_error_is_500_even_after_progress(base_url: str) -> None:
    response = httpx.get(f"{base_url}/stream", params={"stream": "false", "fail_at": 1})
    assert_error(response, 500, "failed at 1", content_type=JSON_PLAIN)


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"", 400, "missing request body"),
        (b"{bad", 400, "invalid character 'b' looking for beginning of object key string"),
        (b'{"model": "x"', 400, "unexpected EOF"),
        (b"[]", 400, "json: cannot unmarshal array into Go value of type api.PullRequest"),
        (
            b'{"insecure": "yes"}',
            400,
            "json: cannot unmarshal string into Go struct field PullRequest.insecure of type bool",
        ),
    ],
)
def test_bad_bodies_are_rejected_like_gin(base_url: str, content: bytes, status: int, message: str) -> None:
    assert_error(httpx.post(f"{base_url}/decode", content=content), status, message, content_type=JSON_UTF8)


def test_field_names_match_case_insensitively_like_go(base_url: str) -> None:
    response = httpx.post(f"{base_url}/decode", content=b'{"Model": "tiny"}')
    assert response.text == "[('model', 'tiny')]"
