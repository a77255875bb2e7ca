"""Runtime fault injection: 5xx answers, stalled responses and process exits, switched on by tests.

Tests reach the same switches through the Python handle (:class:`Faults`) and through
``POST /_emulator/faults``; the middleware applies them to every Ollama route, so streaming and plain
endpoints fail the way a crashing or overloaded server would.
"""

from __future__ import annotations

import asyncio
import fnmatch
import http
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.fault_switches import FaultSwitches

CONTROL_PREFIX = "/_emulator/"
_POLL_S = 0.01
_EXIT_FLUSH_S = 0.05
#: Ollama's answer when the request queue is full; the natural body for an injected 503.
_BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"


class FaultUnavailableError(RuntimeError):
    """A fault that cannot run here, e.g. a process exit in an emulator that shares the test's process."""


@dataclass
class _ErrorRule:
    status: int
    message: str
    remaining: int
    path: str | None


@dataclass
class _StallRule:
    remaining: int
    path: str | None
    after_lines: int | None  # None: headers are sent, then nothing
    seconds: float | None  # None: until released


@dataclass(frozen=True)
class _TakenStall:
    """A stall rule as one request took it, with the release count at that moment."""

    rule: _StallRule
    release_generation: int


@dataclass
class _ExitRule:
    path: str | None
    after_requests: int | None
    after_lines: int | None
    exit_code: int


def _matches(pattern: str | None, path: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(path, pattern)


_Rule = TypeVar("_Rule", _ErrorRule, _StallRule)


def _take_first(rules: list[_Rule], path: str) -> _Rule | None:
    """The first rule matching ``path``, with one use counted (and dropped when used up); the caller
    holds the lock."""
    for rule in rules:
        if _matches(rule.path, path):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule
    return None


def _default_message(status: int) -> str:
    if status == 503:
        return _BUSY_MESSAGE
    try:
        return http.HTTPStatus(status).phrase.lower()
    except ValueError:
        return "internal server error"


class Faults(FaultSwitches):
    """The fault switches of one emulator (thread-safe; rules are consumed as requests match them).

    ``path`` arguments are glob patterns matched against the request path (``/api/pull``,
    ``/api/blobs/*``); ``None`` matches every Ollama route. Control endpoints are never faulted.
    """

    def __init__(self, *, exit_allowed: bool = False) -> None:
        self._lock = threading.Lock()
        self._errors: list[_ErrorRule] = []
        self._stalls: list[_StallRule] = []
        self._exit: _ExitRule | None = None
        self._exit_matched_requests = 0
        self._release_generation = 0
        self._stalled = 0
        self.exit_allowed = exit_allowed

    @property
    def stalled(self) -> int:
        with self._lock:
            return self._stalled

    def describe(self) -> dict[str, Any]:
        """The active rules as JSON-ready data (``GET /_emulator/faults``)."""
        with self._lock:
            return {
                "errors": [asdict(rule) for rule in self._errors],
                "stalls": [asdict(rule) for rule in self._stalls],
                "exit": asdict(self._exit) if self._exit else None,
                "stalled": self._stalled,
                "exit_allowed": self.exit_allowed,
            }

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON spec from ``POST /_emulator/faults``.

        One key per call: ``{"fail": {"count", "status", "message", "path"}}``,
        ``{"stall": {"count", "path", "after_lines", "seconds"}}``,
        ``{"exit": {"after_requests" | "after_lines", "path", "exit_code"}}``,
        ``{"release": true}`` or ``{"clear": true}``.
        """
        if len(spec) != 1:
            raise ValueError("send exactly one of: fail, stall, exit, release, clear")
        ((action, options),) = spec.items()
        options = options if isinstance(options, dict) else {}
        if action == "fail":
            self._add_error(
                int(options.get("count", 1)),
                int(options.get("status", 500)),
                options.get("message"),
                options.get("path"),
            )
        elif action == "stall":
            rule = _StallRule(
                int(options.get("count", 1)),
                options.get("path"),
                _optional_int(options.get("after_lines")),
                _optional_float(options.get("seconds")),
            )
            with self._lock:
                self._stalls.append(rule)
        elif action == "exit":
            code = int(options.get("exit_code", 1))
            if options.get("after_lines") is not None:
                self._set_exit(_ExitRule(options.get("path"), None, int(options["after_lines"]), code))
            else:
                count = int(options.get("after_requests", 1))
                self._set_exit(_ExitRule(options.get("path"), count, None, code))
        elif action == "release":
            with self._lock:
                self._release_generation += 1
        elif action == "clear":
            with self._lock:
                self._errors.clear()
                self._stalls.clear()
                self._exit = None
                self._release_generation += 1
        else:
            raise ValueError(f"unknown fault {action!r}: expected fail, stall, exit, release or clear")

    def _add_error(self, count: int, status: int, message: str | None, path: str | None) -> None:
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next injects server errors; status must be 5xx, got {status}")
        rule = _ErrorRule(status, message or _default_message(status), count, path)
        with self._lock:
            self._errors.append(rule)

    def _set_exit(self, rule: _ExitRule) -> None:
        if not self.exit_allowed:
            raise FaultUnavailableError(
                "exit faults stop the whole process: use OllamaEmulatorProcess (or `ollama-emulator serve`), "
                "not the in-thread OllamaEmulator"
            )
        with self._lock:
            self._exit = rule
            self._exit_matched_requests = 0

    # -- used by the middleware -------------------------------------------------------------------

    def _take_error(self, path: str) -> _ErrorRule | None:
        with self._lock:
            return _take_first(self._errors, path)

    def _take_stall(self, path: str) -> _TakenStall | None:
        # The release generation is read when the request arrives, not when its wait begins: a
        # client can see the headers and call release() before the server reaches the wait, and that
        # release must still let this response go.
        with self._lock:
            rule = _take_first(self._stalls, path)
            return None if rule is None else _TakenStall(rule, self._release_generation)

    def _exit_rule_for(self, path: str) -> _ExitRule | None:
        with self._lock:
            rule = self._exit
            return rule if rule is not None and _matches(rule.path, path) else None

    def _count_exit_request(self, rule: _ExitRule) -> bool:
        with self._lock:
            self._exit_matched_requests += 1
            return rule.after_requests is not None and self._exit_matched_requests >= rule.after_requests

    async def _wait_stalled(self, stall: _TakenStall) -> None:
        with self._lock:
            self._stalled += 1
        seconds = stall.rule.seconds
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            while True:
                with self._lock:
                    if self._release_generation != stall.release_generation:
                        return
                if deadline is not None and time.monotonic() >= deadline:
                    return
                # Release comes from another thread (the test); a short poll keeps the loop free.
                await asyncio.sleep(_POLL_S)
        finally:
            with self._lock:
                self._stalled -= 1


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


async def _exit_process(code: int) -> None:
    # Give the transport a moment to hand the bytes already sent to the kernel, then die at once,
    # the way a crashing server does (no cleanup, no graceful close).
    await asyncio.sleep(_EXIT_FLUSH_S)
    sys.stderr.flush()
    os._exit(code)


class FaultMiddleware:
    """ASGI middleware applying :class:`Faults` to every request outside ``/_emulator/``."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        error = self.faults._take_error(path)
        if error is not None:
            await _send_error(send, error, head=scope.get("method") == "HEAD")
            return
        stall = self.faults._take_stall(path)
        exit_rule = self.faults._exit_rule_for(path)
        if stall is None and exit_rule is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._wrap_send(send, stall, exit_rule))
        if exit_rule is not None and self.faults._count_exit_request(exit_rule):
            await _exit_process(exit_rule.exit_code)

    def _wrap_send(self, send: Send, stall: _TakenStall | None, exit_rule: _ExitRule | None) -> Send:
        faults = self.faults
        lines_sent = 0
        stall_pending = stall

        async def faulty_send(message: Message) -> None:
            nonlocal lines_sent, stall_pending
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if stall_pending is not None and (stall_pending.rule.after_lines or 0) <= lines_sent:
                    taken, stall_pending = stall_pending, None
                    await faults._wait_stalled(taken)
                await send(message)
                lines_sent += body.count(b"\n")
                limit = exit_rule.after_lines if exit_rule is not None else None
                if limit is not None and lines_sent >= limit:
                    await _exit_process(exit_rule.exit_code if exit_rule else 1)
                return
            await send(message)

        return faulty_send


async def _send_error(send: Send, rule: _ErrorRule, *, head: bool) -> None:
    body = gojson.dumps({"error": rule.message})
    await send(
        {
            "type": "http.response.start",
            "status": rule.status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
