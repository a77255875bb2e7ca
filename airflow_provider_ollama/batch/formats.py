"""The ``format`` option of a batch: checked before any request, then used to parse each response.

Ollama takes ``"json"`` or a JSON Schema object; with either, every response is parsed, and with a
schema also validated here, because a model can still emit text the schema does not allow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

import jsonschema
from jsonschema.validators import validator_for

#: What ``format`` may be: off (None or ""), "json", or a JSON Schema object.
ResponseFormatSpec: TypeAlias = "str | Mapping[str, Any] | None"

#: A value that ``json.loads`` can return.
JSONValue: TypeAlias = "str | int | float | bool | list[Any] | dict[str, Any] | None"


class ResponseFormatError(ValueError):
    """A response that is not valid JSON, or does not conform to the batch's JSON Schema."""


def validate_format(response_format: object) -> ResponseFormatSpec:
    """Return ``response_format`` if Ollama would accept it, else raise ``ValueError`` naming the fix.

    Accepted: ``None`` or ``""`` (plain text), ``"json"``, or a dict that is a valid JSON Schema
    (checked against its meta-schema, so a typo such as ``{"type": "objekt"}`` fails here and not
    after a thousand requests).
    """
    if response_format is None or response_format in ("", "json"):
        return response_format
    if isinstance(response_format, str):
        raise ValueError(
            f"format={response_format!r} is not supported: use 'json' for any JSON output, "
            "a JSON Schema dict for structured output, or leave it unset for plain text"
        )
    if not isinstance(response_format, Mapping):
        raise ValueError(f"format must be 'json' or a JSON Schema dict, not {type(response_format).__name__}")
    schema = dict(response_format)
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise ValueError(
            f"format is not a valid JSON Schema: {error.message} at {where}; fix the schema "
            "(it is checked against the JSON Schema meta-schema) or use format='json'"
        ) from None
    return schema


class ResponseParser:
    """Turns response text into the item's ``response`` value according to the batch's format.

    Built once per batch, so a schema's validator is compiled once, not per item.
    """

    def __init__(self, response_format: ResponseFormatSpec) -> None:
        self._parses = bool(response_format)
        self._validator: Any = None
        if isinstance(response_format, Mapping):
            schema = dict(response_format)
            self._validator = validator_for(schema)(schema)

    def parse(self, text: str) -> JSONValue:
        """The text itself, or the parsed JSON; raises :class:`ResponseFormatError` when it does not fit."""
        if not self._parses:
            return text
        try:
            value: JSONValue = json.loads(text)
        except json.JSONDecodeError as error:
            raise ResponseFormatError(
                f"response is not valid JSON ({error.msg} at position {error.pos}): {_preview(text)}"
            ) from None
        if self._validator is not None:
            problem = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
            if problem is not None:
                where = "/".join(str(part) for part in problem.absolute_path) or "(root)"
                raise ResponseFormatError(f"response does not match the schema: {problem.message} at {where}")
        return value


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
