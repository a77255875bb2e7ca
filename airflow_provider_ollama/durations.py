"""Durations the way Ollama reads them: Go duration strings (``5m``, ``1h30m``) and ``keep_alive`` values.

Shared by the hook (it validates a connection's default ``keep_alive``) and the emulator (it parses the
same values a real server does); pure Python so that neither pays for importing Airflow.
"""

from __future__ import annotations

import math
import re

_GO_DURATION_PART_RE = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_BARE_NUMBER_RE = re.compile(r"[0-9]*\.?[0-9]+")
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


class DurationError(ValueError):
    """A value that is neither a number of seconds nor a Go duration string."""


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``5m``, ``1h30m``, ``-1m`` or ``0``.

    Mirrors Go's ``time.ParseDuration``: a bare number other than 0 has no unit and is an error,
    which is why ``"300"`` sent as ``keep_alive`` is rejected by a real server.
    """
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    if body[:1] in {"+", "-"}:
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise DurationError(f'time: invalid duration "{text}"')
    total = 0.0
    position = 0
    for match in _GO_DURATION_PART_RE.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _GO_UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(body):
        if _BARE_NUMBER_RE.fullmatch(body):
            raise DurationError(f'time: missing unit in duration "{text}"')
        raise DurationError(f'time: invalid duration "{text}"')
    return sign * total


def parse_env_duration(text: str) -> float:
    """``OLLAMA_KEEP_ALIVE`` style: bare seconds (``300``, ``-1``) or a Go duration (``5m``)."""
    try:
        return float(text)
    except ValueError:
        return parse_go_duration(text)


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
