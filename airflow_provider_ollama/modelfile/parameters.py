"""Ollama's model parameters: which names exist and what type each value has.

Mirrors the server's options and how it types Modelfile values (by each option's Go type, ``stop``
collected into a list), so a bad value fails here, with its line, before any request is sent. The same
table checks the ``options`` of a generate, chat or embed request (:func:`check_option`).
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeAlias

#: A typed parameter value as it goes into ``/api/create``: ``stop`` is the only list.
ParameterValue: TypeAlias = int | float | bool | list[str]


class ParameterType(enum.Enum):
    """The JSON type the server expects for a parameter; the value reads in error messages."""

    INTEGER = "an integer"
    NUMBER = "a number"
    BOOLEAN = "true or false"
    STRING_LIST = "a string (repeat the line for several)"


_I, _N, _B = ParameterType.INTEGER, ParameterType.NUMBER, ParameterType.BOOLEAN

#: Every parameter the server accepts, with its type (Go ``int``, ``float32``, ``*bool``, ``[]string``).
PARAMETER_TYPES: Mapping[str, ParameterType] = MappingProxyType(
    {
        "num_ctx": _I,
        "num_batch": _I,
        "num_gpu": _I,
        "main_gpu": _I,
        "use_mmap": _B,
        "num_thread": _I,
        "num_keep": _I,
        "seed": _I,
        "num_predict": _I,
        "draft_num_predict": _I,
        "top_k": _I,
        "top_p": _N,
        "min_p": _N,
        "typical_p": _N,
        "repeat_last_n": _I,
        "temperature": _N,
        "repeat_penalty": _N,
        "presence_penalty": _N,
        "frequency_penalty": _N,
        "stop": ParameterType.STRING_LIST,
    }
)

#: Parameters Ollama still reads in a Modelfile but ignores (it prints a warning and drops them).
DEPRECATED_PARAMETERS = frozenset(
    {
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)

_EXAMPLE_VALUES = {_I: "42", _N: "0.7", _B: "true", ParameterType.STRING_LIST: '"<|end|>"'}
# What Go's strconv accepts: base-10 integers with a sign, decimal floats, and ParseBool's spellings.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


class ParameterValueError(ValueError):
    """A parameter name or value the server would refuse; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parameter_type(name: str) -> ParameterType:
    """Type of parameter ``name``; raise :class:`ParameterValueError` for a name the server rejects."""
    try:
        return PARAMETER_TYPES[name]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), PARAMETER_TYPES, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ParameterValueError(
            f"unknown parameter {name!r}",
            f"{guess}parameter names are lower-case: {', '.join(sorted(PARAMETER_TYPES))}",
        ) from None


def parse_parameter(name: str, text: str) -> int | float | bool | str:
    """Type one ``PARAMETER name text`` value the way the server does.

    ``stop`` values come back as the string itself; the caller collects them into a list.
    """
    kind = parameter_type(name)
    value: int | float | bool | str | None = None
    if kind is ParameterType.STRING_LIST:
        value = text
    elif kind is ParameterType.BOOLEAN:
        value = _BOOLEANS.get(text)
    elif kind is ParameterType.INTEGER and _INTEGER.fullmatch(text) and _INT64_MIN <= int(text) <= _INT64_MAX:
        value = int(text)
    elif kind is ParameterType.NUMBER and _DECIMAL.fullmatch(text):
        number = float(text)
        # JSON has no inf or nan, and the server stores a 32-bit float.
        if math.isfinite(number) and abs(number) <= _FLOAT32_MAX:
            value = number
    if value is None:
        raise ParameterValueError(
            f"parameter {name} expects {kind.value}, got {text!r}",
            f"write {kind.value}, e.g. PARAMETER {name} {_EXAMPLE_VALUES[kind]}",
        )
    return value


def parameter_text(value: object) -> str:
    """Modelfile text of a Python value: ``True`` -> ``true``, ``0.5`` -> ``0.5``, strings unchanged.

    Reading the text back with :func:`parse_parameter` gives the same value, so structured arguments
    go through exactly the checks a Modelfile line does.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return repr(value) if isinstance(value, float) else str(value)
    raise ParameterValueError(
        f"parameter value {value!r} is a {type(value).__name__}",
        "give a str, int, float or bool (a list of strings only for stop)",
    )


#: How a request's ``options`` value must look, by type (JSON values, as the server's ``Options.FromMap``
#: reads them: any number for an integer, which it truncates; never a bool for a number).
_OPTION_EXPECTS = {
    _I: "an integer",
    _N: "a number",
    _B: "true or false",
    ParameterType.STRING_LIST: "a list of strings",
}
_OPTION_EXAMPLES = {_I: "42", _N: "0.7", _B: "True", ParameterType.STRING_LIST: '["<|end|>"]'}


def check_option(name: str, value: object) -> None:
    """Check one ``options`` entry of a request the way the server types it; raise
    :class:`ParameterValueError` for a value of the wrong type. Names the server does not know pass: it
    ignores them."""
    kind = PARAMETER_TYPES.get(name)
    if kind is None:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {
        _I: number,
        _N: number,
        _B: isinstance(value, bool),
        ParameterType.STRING_LIST: isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
    }[kind]
    if value is not None and not fits:
        raise ParameterValueError(
            f"option {name!r} expects {_OPTION_EXPECTS[kind]}, got {value!r}",
            f"e.g. options={{{name!r}: {_OPTION_EXAMPLES[kind]}}}",
        )
