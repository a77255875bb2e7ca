"""Validate response bodies against Ollama's own OpenAPI description (vendored under ``data/``).

Conformance tests call :func:`validate_response` on every body they receive, so a shape the real
server would not produce fails here rather than in a user's pipeline.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPEC_PATH = Path(__file__).parent / "data" / "ollama-openapi.yaml"
JSON = "application/json"
NDJSON = "application/x-ndjson"


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed OpenAPI document."""
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@functools.cache
def _root_validator() -> Draft202012Validator:
    # The whole document is the resource every "#/components/..." reference resolves against.
    return Draft202012Validator(load_spec())


def operation(operation_id: str) -> dict[str, Any]:
    """The operation object with ``operationId``; fails naming the known ids otherwise."""
    known = []
    for methods in load_spec()["paths"].values():
        for spec in methods.values():
            if isinstance(spec, dict) and "operationId" in spec:
                known.append(spec["operationId"])
                if spec["operationId"] == operation_id:
                    return spec
    raise KeyError(f"no operation {operation_id!r} in {SPEC_PATH.name}; known: {', '.join(sorted(known))}")


def response_schema(operation_id: str, status: int = 200, content_type: str = JSON) -> dict[str, Any] | None:
    """The schema of one response, or None when the spec declares that response without a body."""
    responses = operation(operation_id)["responses"]
    response = responses.get(str(status))
    if response is None:
        raise KeyError(f"{operation_id} declares no {status} response (declared: {', '.join(responses)})")
    content = response.get("content")
    if not content:
        return None
    if content_type not in content:
        raise KeyError(f"{operation_id} {status} has no {content_type} body (declared: {', '.join(content)})")
    schema: dict[str, Any] = content[content_type]["schema"]
    return schema


def validate_response(operation_id: str, body: Any, *, status: int = 200, content_type: str = JSON) -> None:
    """Assert that ``body`` (parsed JSON) matches the spec's schema for that response."""
    schema = response_schema(operation_id, status, content_type)
    if schema is None:
        raise AssertionError(
            f"{operation_id} {status} has no body in the spec, but one was checked: {body!r}"
        )
    validator = _root_validator().evolve(schema=schema)
    try:
        validator.validate(body)
    except ValidationError as error:
        location = "/".join(str(part) for part in error.absolute_path) or "<root>"
        raise AssertionError(
            f"{operation_id} {status} {content_type} body breaks the OpenAPI schema at {location}: "
            f"{error.message}\nbody: {body!r}"
        ) from None


def validate_stream(operation_id: str, events: list[Any]) -> None:
    """Assert that every NDJSON line of a streamed answer matches the spec's event schema."""
    assert events, f"{operation_id} stream had no lines"
    for event in events:
        validate_response(operation_id, event, content_type=NDJSON)


def assert_empty_response(operation_id: str, body: bytes, *, status: int = 200) -> None:
    """Assert the spec declares ``status`` without a body and the server sent none."""
    assert response_schema(operation_id, status) is None, f"{operation_id} {status} should have a body"
    assert body == b"", f"{operation_id} {status} must have an empty body, got {body!r}"
