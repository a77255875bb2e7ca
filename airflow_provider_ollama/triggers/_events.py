"""What every trigger event of this provider shares: its status and the first checks when a task resumes.

The status travels as a plain string (events are JSON); the enum keeps the trigger and the worker agreeing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from airflow_provider_ollama.exceptions import OllamaTriggerEventError


class TriggerStatus(str, Enum):
    """How a trigger's work ended; carried in the event so nobody parses message text."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    ERROR = "error"


def event_status(event: Any, kind: str) -> TriggerStatus:
    """The status of the ``kind`` event a task resumed with; :class:`OllamaTriggerEventError` if it has none."""
    if not isinstance(event, dict):
        raise OllamaTriggerEventError(f"The task resumed without a {kind} event (got {event!r})")
    try:
        return TriggerStatus(event.get("status"))
    except ValueError:
        raise OllamaTriggerEventError(f"Unknown status {event.get('status')!r} in {kind} event") from None
