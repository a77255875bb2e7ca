"""The fault switches a test flips on an Ollama emulator, as one API for the in-thread and process handles.

Every switch is a JSON spec, the body ``POST /_emulator/faults`` takes: :class:`Faults` applies it in
this process, :class:`RemoteFaults` sends it to an emulator process. Because both inherit the switches
from here, a test written against ``OllamaEmulator`` works unchanged against ``OllamaEmulatorProcess``.
"""

from __future__ import annotations

import abc
from typing import Any


class FaultSwitches(abc.ABC):
    """Switch faults on and off; ``path`` arguments are glob patterns on the request path."""

    @abc.abstractmethod
    def configure(self, spec: dict[str, Any]) -> None:
        """Apply one spec: ``{"fail": {...}}``, ``{"stall": {...}}``, ``{"exit": {...}}``,
        ``{"release": true}`` or ``{"clear": true}``."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The active rules as JSON-ready data (what ``GET /_emulator/faults`` answers)."""

    def fail_next(
        self, count: int = 1, *, status: int = 500, message: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` (5xx) and ``{"error": message}``."""
        self.configure({"fail": {"count": count, "status": status, "message": message, "path": path}})

    def stall_next(
        self,
        count: int = 1,
        *,
        path: str | None = None,
        after_lines: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """Stall the next ``count`` matching responses: after the headers (or after ``after_lines``
        NDJSON lines), send nothing until :meth:`release` or for ``seconds``."""
        self.configure(
            {"stall": {"count": count, "path": path, "after_lines": after_lines, "seconds": seconds}}
        )

    def release(self) -> None:
        """Let every response stalled right now continue."""
        self.configure({"release": True})

    def exit_after_requests(self, count: int, *, path: str | None = None, exit_code: int = 1) -> None:
        """Exit the process (``os._exit``) once ``count`` matching requests have been answered."""
        self.configure({"exit": {"after_requests": count, "path": path, "exit_code": exit_code}})

    def exit_after_lines(self, lines: int, *, path: str | None = None, exit_code: int = 1) -> None:
        """Exit the process in the middle of the next matching stream, after ``lines`` NDJSON lines."""
        self.configure({"exit": {"after_lines": lines, "path": path, "exit_code": exit_code}})

    def clear(self) -> None:
        """Remove every rule and release every stalled response."""
        self.configure({"clear": True})

    @property
    def stalled(self) -> int:
        """How many responses are stalled right now (lets a test wait for a stall to take hold)."""
        return int(self.describe()["stalled"])
