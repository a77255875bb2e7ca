"""Decoding the fields of generate, chat and embed requests with Ollama's rules and error messages.

Ollama decodes these into Go types with custom unmarshalers (``keep_alive``, ``think``, images) and
checks ``options`` against its Options struct; each helper here reproduces one of those decoders,
raising :class:`ApiError` with the status and text a real server answers.
"""

from __future__ import annotations

import binascii
import re
import struct
from collections.abc import Mapping
from typing import Any

from airflow_provider_ollama.durations import DurationError, parse_go_duration
from airflow_provider_ollama.testing.emulator.gojson import (
    go_quote,
    go_type_name,
    json_kind,
    shortest_float32,
)
from airflow_provider_ollama.testing.emulator.http import ApiError

THINK_LEVELS = ("high", "medium", "low", "max")
_THINK_CHOICES = '"high", "medium", "low", "max", true, or false'
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")

#: ``api.Options`` (with ``api.Runner``): option name -> Go kind. Other names are ignored, as there.
OPTION_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "num_ctx",
            "num_batch",
            "num_gpu",
            "num_thread",
            "draft_num_predict",
            "num_keep",
            "seed",
            "num_predict",
            "top_k",
            "repeat_last_n",
        ),
        "integer",
    ),
    "main_gpu": "*int",
    "use_mmap": "*bool",
    **dict.fromkeys(
        (
            "top_p",
            "min_p",
            "typical_p",
            "temperature",
            "repeat_penalty",
            "presence_penalty",
            "frequency_penalty",
        ),
        "float32",
    ),
    "stop": "array",
}


def keep_alive_seconds(value: Any) -> float | None:
    """``api.Duration``: a number is seconds, a string a Go duration; negative means forever (-1).

    None when absent (the runner keeps its keep-alive, or the server default applies on a load).
    Another JSON type is ``Duration.UnmarshalJSON``'s 400 ``Unsupported type: '<Go type>'``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError(400, f"Unsupported type: '{go_type_name(value)}'")
    if isinstance(value, str):
        try:
            seconds = parse_go_duration(value)
        except DurationError as error:
            raise ApiError(400, str(error)) from None
    else:
        seconds = float(value)
    return -1.0 if seconds < 0 else seconds


def think_value(value: Any) -> bool | str | None:
    """``api.ThinkValue``: a bool or a thinking level."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value not in THINK_LEVELS:
            raise ApiError(400, f"invalid think value: {go_quote(value)} (must be {_THINK_CHOICES})")
        return value
    raise ApiError(400, f"think must be a boolean or string ({_THINK_CHOICES})")


def think_level(value: bool | str | None) -> str | None:
    """The level thinking runs at, or None when off (``true`` is Ollama's ``medium``)."""
    if value is None or value is False:
        return None
    return "medium" if value is True else value


def images(value: Any, struct: str) -> list[str]:
    """``[]api.ImageData``: base64 strings, decoded strictly as Go decodes ``[]byte``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, unmarshal_error(value, f"{struct}.images", "[]api.ImageData"))
    for item in value:
        if not isinstance(item, str):
            raise ApiError(400, unmarshal_error(item, f"{struct}.images", "api.ImageData"))
        try:
            binascii.a2b_base64(item.encode(), strict_mode=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"illegal base64 data at input byte {_bad_base64_offset(item)}") from None
    return list(value)


def token_context(value: Any) -> list[int]:
    """The deprecated ``context`` of generate: a list of token ids."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, unmarshal_error(value, "GenerateRequest.context", "[]int"))
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or float(item) != int(item):
            raise ApiError(400, unmarshal_error(item, "GenerateRequest.context", "int"))
    return [int(item) for item in value]


def merged_options(parameters: Mapping[str, Any], requested: Mapping[str, Any] | None) -> dict[str, Any]:
    """``modelOptions``: the model's Modelfile parameters, then the request's ``options`` (request wins).

    Each value is typed by ``Options.FromMap``: the wrong type is a 500 ``option "x" must be of type
    ...`` (a string ``stop`` included: it must be an array); numbers become Go ints (truncated) or
    float32s; names Ollama does not know are ignored (logged there), and so dropped here.
    """
    merged: dict[str, Any] = {}
    for source in (parameters, requested or {}):
        for key, value in source.items():
            kind = OPTION_KINDS.get(key)
            if kind is None or value is None:
                continue
            merged[key] = _typed_option(key, value, kind)
    return merged


def _typed_option(key: str, value: Any, kind: str) -> Any:
    quoted = go_quote(key)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("integer", "*int"):
        if not is_number:
            raise ApiError(500, f"option {quoted} must be of type integer")
        return int(value)
    if kind == "float32":
        if not is_number:
            raise ApiError(500, f"option {quoted} must be of type float32")
        return shortest_float32(float(struct.unpack("<f", struct.pack("<f", float(value)))[0]))
    if kind == "*bool":
        if not isinstance(value, bool):
            raise ApiError(500, f"option {quoted} must be of type boolean")
        return value
    if not isinstance(value, list):
        raise ApiError(500, f"option {quoted} must be of type array")
    if not all(isinstance(item, str) for item in value):
        raise ApiError(500, f"option {quoted} must be of an array of strings")
    return list(value)


def unmarshal_error(value: Any, field: str, go_type: str) -> str:
    """Go's ``json: cannot unmarshal <kind> into Go struct field <field> of type <type>``."""
    return f"json: cannot unmarshal {json_kind(value)} into Go struct field {field} of type {go_type}"


def _bad_base64_offset(text: str) -> int:
    """Where Go's base64 decoder gives up: the first byte outside the alphabet, or the bad tail."""
    valid = _BASE64_RE.match(text)
    end = valid.end() if valid else 0
    if end < len(text):
        return end
    return len(text) - len(text) % 4 if len(text) % 4 else max(len(text) - 1, 0)
