"""Durations the way Ollama reads them: Go duration strings (``5m``, ``1h30m``) and ``keep_alive`` values.

Shared by the hook (it validates a connection's default ``keep_alive``) and the emulator (it parses the
same values a real server does); pure Python so that neither pays for importing Airflow.
"""

from __future__ import annotations

import math

_GO_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign
    "μs": 1e-6,  # Greek mu; Go accepts both spellings
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DIGITS = "0123456789"


class DurationError(ValueError):
    """A value that is neither a number of seconds nor a Go duration string."""


def go_time_quote(text: str) -> str:
    """The ``quote`` of Go's time package: double quotes, ``\\xNN`` for control and non-ASCII bytes."""
    out = ['"']
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
        else:
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``5m``, ``1h30m``, ``-1m`` or ``0``.

    Follows Go's ``time.ParseDuration`` step by step, errors included: a bare number other than 0
    has no unit (``time: missing unit in duration "300"``, why ``"300"`` sent as ``keep_alive`` is
    rejected by a real server), ``5d`` has an unknown unit, and no whitespace is allowed.
    """
    invalid = DurationError(f"time: invalid duration {go_time_quote(text)}")
    rest = text
    sign = 1.0
    if rest[:1] in ("+", "-"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise invalid
    total = 0.0
    while rest:
        if rest[0] != "." and rest[0] not in _DIGITS:
            raise invalid
        digits = len(rest) - len(rest.lstrip(_DIGITS))
        number, rest = rest[:digits], rest[digits:]
        fraction = ""
        if rest[:1] == ".":
            rest = rest[1:]
            places = len(rest) - len(rest.lstrip(_DIGITS))
            fraction, rest = rest[:places], rest[places:]
            if not number and not places:
                raise invalid
        elif not number:
            raise invalid
        unit_length = 0
        while unit_length < len(rest) and rest[unit_length] != "." and rest[unit_length] not in _DIGITS:
            unit_length += 1
        if unit_length == 0:
            raise DurationError(f"time: missing unit in duration {go_time_quote(text)}")
        unit, rest = rest[:unit_length], rest[unit_length:]
        if unit not in _GO_UNIT_SECONDS:
            raise DurationError(f"time: unknown unit {go_time_quote(unit)} in duration {go_time_quote(text)}")
        value = float(f"{number or 0}.{fraction or 0}")
        total += value * _GO_UNIT_SECONDS[unit]
    return sign * total


def parse_env_duration(text: str, default: float = 300.0) -> float:
    """``OLLAMA_KEEP_ALIVE`` as envconfig reads it: surrounding quotes and spaces dropped, then a Go
    duration (``5m``), else whole seconds (``300``, ``-1``), else ``default`` (five minutes) silently."""
    value = text.strip().strip("\"'")
    try:
        return parse_go_duration(value)
    except DurationError:
        pass
    try:
        return float(int(value))
    except ValueError:
        return default


def normalize_keep_alive(value: float | str) -> float | str:
    """A ``keep_alive`` value a server accepts: seconds as a number, or a valid Go duration string.

    Numbers, and strings holding only a number (what a text field in a form yields), become seconds
    as a float, because a server rejects ``"300"`` but accepts ``300``. Other strings must parse as
    Go durations and are passed on unchanged. Negative values mean "keep loaded forever".
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DurationError(
            f"keep_alive must be a number of seconds or a Go duration such as '5m', not {value!r}"
        )
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parse_go_duration(text)
            except DurationError as error:
                raise DurationError(
                    f"keep_alive {value!r} is neither a number of seconds nor a Go duration "
                    f"such as '5m', '1h30m' or '-1' ({error})"
                ) from None
            return text
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise DurationError(f"keep_alive must be a finite number of seconds, not {value!r}")
    return seconds
