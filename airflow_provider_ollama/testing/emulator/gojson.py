"""JSON and value formatting the way Ollama's Go server produces and rejects it.

Clients compare bytes (manifest digests), parse error strings and read numbers that Go printed, so the
emulator encodes with ``encoding/json``'s rules and reports malformed bodies with its decoder's messages.
"""

from __future__ import annotations

import json
import math
import struct
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_WHITESPACE = " \t\r\n"
_DIGITS = "0123456789"


class GoJSONError(ValueError):
    """A body Go's ``json.Decoder`` would reject; ``str()`` is Go's message."""


def dumps(value: Any) -> bytes:
    """Encode like ``json.Marshal``: compact, HTML-safe escapes, Go's number format.

    Dicts keep their insertion order (build them in Go struct field order); use :func:`sorted_map`
    for values that are Go maps, which ``encoding/json`` writes with sorted keys.
    """
    return _encode(value).encode("utf-8")


def dumps_line(value: Any) -> bytes:
    """``json.NewEncoder(w).Encode(value)``: :func:`dumps` plus the trailing newline Go adds."""
    return dumps(value) + b"\n"


def sorted_map(value: Any) -> Any:
    """Recursively sort the keys of every dict, as Go does when it encodes ``map[string]any``."""
    if isinstance(value, dict):
        return {key: sorted_map(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [sorted_map(item) for item in value]
    return value


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, datetime):
        return _encode_string(format_time(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode_string(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in _HTML_ESCAPES.items():
        if char in encoded:
            encoded = encoded.replace(char, escape)
    return encoded


def format_float(number: float) -> str:
    """``strconv.FormatFloat`` as ``encoding/json`` uses it: shortest digits, ``e`` only when far out."""
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"json: unsupported value: {number}")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    magnitude = abs(number)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(number)
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.zfill(2)
        return f"{mantissa}e{sign}{digits}"
    return _plain_decimal(repr(number))


def _plain_decimal(shortest: str) -> str:
    text = format(Decimal(shortest), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def json_kind(value: Any) -> str:
    """What Go's decoder calls a JSON-decoded value in ``json: cannot unmarshal <kind> into ...``:
    ``bool``, ``number``, ``string``, ``array`` or ``object``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_GO_TYPES = {
    "bool": "bool",
    "number": "float64",
    "string": "string",
    "array": "[]interface {}",
    "object": "map[string]interface {}",
}


def go_type_name(value: Any) -> str:
    """Go's ``%T`` of a JSON-decoded value (``float64``, ``[]interface {}``, ``<nil>`` ...)."""
    return "<nil>" if value is None else _GO_TYPES[json_kind(value)]


def format_go_value(value: Any) -> str:
    """``fmt.Sprintf("%#v", v)`` for JSON-decoded values (float64, string, bool, nil)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_go_g(float(value))
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "<nil>"
    return str(value)


def format_go_plain(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for JSON-decoded values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_go_g(float(value))
    if value is None:
        return "<nil>"
    return str(value)


def format_go_g(number: float) -> str:
    """``%v`` of a float64: shortest digits, exponent form when the exponent is < -4 or >= 6
    (``fmt.Println(1e6)`` prints ``1e+06``)."""
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    if number == 0:
        return "0"
    shortest = Decimal(repr(number))
    exponent = shortest.adjusted()
    if exponent < -4 or exponent >= 6:
        sign, digits, _ = shortest.as_tuple()
        text = "".join(str(d) for d in digits).rstrip("0") or "0"
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return _plain_decimal(repr(number))


def go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 or _printable(char):
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _printable(char: str) -> bool:
    return unicodedata.category(char)[0] not in "CZ" or char == " "


def format_time(moment: datetime) -> str:
    """RFC 3339 with nanoseconds as Go writes ``time.Time`` (``Z`` for UTC, trailing zeros dropped)."""
    return _format_rfc3339(moment, nanos=moment.microsecond * 1000)


def format_time_ns(epoch_ns: int, *, utc: bool = False) -> str:
    """Format a timestamp in nanoseconds (e.g. ``st_mtime_ns``) in local time, or UTC, Go style."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if not utc:
        moment = moment.astimezone()
    return _format_rfc3339(moment, nanos=nanos)


def _format_rfc3339(moment: datetime, *, nanos: int) -> str:
    if moment.tzinfo is None:
        moment = moment.astimezone()
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0").rstrip(".") if nanos else ""
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() == 0:
        zone = "Z"
    else:
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        zone = f"{sign}{hours:02d}:{mins:02d}"
    return f"{base}{fraction}{zone}"


def loads_request(body: bytes) -> Any:
    """Decode the first JSON value of a request body the way Go's ``json.Decoder`` does.

    Raises :class:`EOFError` for an empty (or whitespace-only) body, which handlers report as
    ``missing request body``, and :class:`GoJSONError` carrying Go's message for malformed input.
    Anything after the first complete value is ignored, as ``Decoder.Decode`` ignores it.
    """
    text = body.decode("utf-8", errors="replace")
    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise EOFError("missing request body")
    end = _Scanner(text).value(start)
    if text[start] not in "{[" and end < len(text) and text[end] not in _JSON_WHITESPACE:
        # A scalar ends only at a delimiter; Go reads one byte past it and rejects anything else.
        raise GoJSONError(f"invalid character {_quote_char(text[end])} after top-level value")
    return json.loads(text[start:end])


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _JSON_WHITESPACE:
        position += 1
    return position


def _quote_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + go_quote(char)[1:-1] + "'"


class _Scanner:
    """Validates JSON with the error wording of Go's ``encoding/json`` scanner."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _char(self, position: int) -> str:
        if position >= len(self.text):
            raise GoJSONError("unexpected EOF")
        return self.text[position]

    def _fail(self, position: int, context: str) -> GoJSONError:
        return GoJSONError(f"invalid character {_quote_char(self.text[position])} {context}")

    def value(self, position: int) -> int:
        """Scan one value starting at ``position`` (no leading whitespace); return the end index."""
        char = self._char(position)
        if char == "{":
            return self._object(position + 1)
        if char == "[":
            return self._array(position + 1)
        if char == '"':
            return self._string(position + 1)
        if char == "-" or char in _DIGITS:
            return self._number(position)
        for literal in ("true", "false", "null"):
            if char == literal[0]:
                return self._literal(position, literal)
        raise self._fail(position, "looking for beginning of value")

    def _object(self, position: int) -> int:
        return self._container(position, "}", self._member, "after object key:value pair")

    def _array(self, position: int) -> int:
        return self._container(position, "]", self.value, "after array element")

    def _container(self, position: int, closer: str, item: Callable[[int], int], after_item: str) -> int:
        """Scan the items of an object or array (``position`` is just past its opener), each with
        ``item``, up to ``closer``; ``after_item`` names the place of a missing comma in the error."""
        position = _skip_whitespace(self.text, position)
        if self._char(position) == closer:
            return position + 1
        while True:
            position = _skip_whitespace(self.text, item(position))
            char = self._char(position)
            if char == closer:
                return position + 1
            if char != ",":
                raise self._fail(position, after_item)
            position = _skip_whitespace(self.text, position + 1)

    def _member(self, position: int) -> int:
        """One ``"key": value`` of an object."""
        if self._char(position) != '"':
            raise self._fail(position, "looking for beginning of object key string")
        position = _skip_whitespace(self.text, self._string(position + 1))
        if self._char(position) != ":":
            raise self._fail(position, "after object key")
        return self.value(_skip_whitespace(self.text, position + 1))

    def _string(self, position: int) -> int:
        while True:
            char = self._char(position)
            if char == '"':
                return position + 1
            if char == "\\":
                escape = self._char(position + 1)
                if escape == "u":
                    for offset in range(2, 6):
                        if self._char(position + offset) not in "0123456789abcdefABCDEF":
                            raise self._fail(position + offset, "in \\u hexadecimal character escape")
                    position += 6
                    continue
                if escape not in '"\\/bfnrt':
                    raise self._fail(position + 1, "in string escape code")
                position += 2
                continue
            if ord(char) < 0x20:
                raise self._fail(position, "in string literal")
            position += 1

    def _number(self, position: int) -> int:
        text = self.text
        if text[position] == "-":
            position += 1
            if self._char(position) not in _DIGITS:
                raise self._fail(position, "in numeric literal")
        if text[position] == "0":
            position += 1
        else:
            while position < len(text) and text[position] in _DIGITS:
                position += 1
        if position < len(text) and text[position] == ".":
            position += 1
            if self._char(position) not in _DIGITS:
                raise self._fail(position, "after decimal point in numeric literal")
            while position < len(text) and text[position] in _DIGITS:
                position += 1
        if position < len(text) and text[position] in "eE":
            position += 1
            if self._char(position) in "+-":
                position += 1
            if self._char(position) not in _DIGITS:
                raise self._fail(position, "in exponent of numeric literal")
            while position < len(text) and text[position] in _DIGITS:
                position += 1
        return position

    def _literal(self, position: int, literal: str) -> int:
        for offset in range(1, len(literal)):
            if self._char(position + offset) != literal[offset]:
                raise self._fail(position + offset, f"in literal {literal} (expecting {literal[offset]!r})")
        return position + len(literal)


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String``: ``1.5ms``, ``12.3µs``, ``2.5s``, ``1m2.5s``, ``0s``."""
    nanos = round(seconds * 1e9)
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= scale:
                return sign + _trim_fraction(nanos, scale) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim_fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim_fraction(value: int, scale: int) -> str:
    whole, fraction = divmod(value, scale)
    if not fraction:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")


def shortest_float32(number: float) -> float:
    """The shortest decimal that reads back as the same float32, so a GGUF ``float32`` value
    encodes as Go encodes a ``float32`` (``1e-05``, not ``9.999999747378752e-06``)."""
    if math.isnan(number) or math.isinf(number) or number == 0:
        return number
    try:
        single = struct.unpack("<f", struct.pack("<f", number))[0]
    except OverflowError:
        return number
    if single != number:
        return number  # not a float32 value: keep float64 precision
    for digits in range(1, 10):
        candidate = float(f"{number:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == number:
            return candidate
    return number
