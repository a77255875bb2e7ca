"""Human-readable sizes and transfer rates, one way for every log line and report of the provider.

Rates are decimal megabytes per second; sizes are decimal (``MB``, as Ollama reports layers) unless a
caller asks for binary units (``MiB``, as the S3 cache's parts are sized).
"""

from __future__ import annotations

_MB = 1_000_000
_DECIMAL = (1000, ("B", "KB", "MB", "GB"))
_BINARY = (1024, ("B", "KiB", "MiB", "GiB"))


def format_size(size: int, *, binary: bool = False) -> str:
    """``1_500_000`` -> ``"1.5 MB"``; with ``binary=True``, ``2 << 30`` -> ``"2.0 GiB"``."""
    step, units = _BINARY if binary else _DECIMAL
    value = float(size)
    for unit in units:
        if value < step or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    raise AssertionError("unreachable")  # pragma: no cover


def megabytes_per_second(size: int, seconds: float) -> float:
    """Decimal MB/s to one decimal place; 0 when nothing moved or no time passed."""
    return round(size / _MB / seconds, 1) if seconds > 0 and size else 0.0


def format_rate(size: int, seconds: float) -> str:
    """``"12.3 MB/s"``."""
    return f"{megabytes_per_second(size, seconds):.1f} MB/s"
