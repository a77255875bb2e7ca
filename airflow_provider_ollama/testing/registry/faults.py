"""Faults a test can switch on in the registry emulator, each scoped to some requests and countable.

Status faults (5xx, 404, 401) answer instead of the registry; body faults (corrupt, truncate,
stall) damage a response that carries bytes (a manifest or a CDN blob range)::

    registry.faults.error(503, kinds={"blob_get"}, times=2)   # the next two blob GETs fail
    stall = registry.faults.stall(digest=model_digest)          # hang half way ...
    stall.release()                                              # ... until the test says so
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_ollama.store import normalize_digest
from airflow_provider_ollama.testing.registry.stats import REQUEST_KINDS

if TYPE_CHECKING:
    from typing_extensions import Unpack


class FaultType(str, enum.Enum):
    ERROR = "error"  # answer with a status (5xx by default) and a registry error body
    NOT_FOUND = "not_found"  # 404 as if the manifest or blob did not exist
    UNAUTHORIZED = "unauthorized"  # 401 with a WWW-Authenticate Bearer challenge
    CORRUPT = "corrupt"  # serve the right length with wrong bytes
    TRUNCATE = "truncate"  # close the connection part way through the body
    STALL = "stall"  # stop sending part way through, until released or for ``seconds``

    @property
    def damages_body(self) -> bool:
        return self in (FaultType.CORRUPT, FaultType.TRUNCATE, FaultType.STALL)


BODY_KINDS = frozenset({"manifest", "cdn_get"})
#: What a body fault damages unless told otherwise: the blob bytes from the CDN.
BODY_FAULT_KINDS = frozenset({"cdn_get"})
ALL_KINDS = frozenset(REQUEST_KINDS)
_ids = itertools.count(1)


class _Gate:
    """A latch that threads open and event loops wait on (a stalled response waits here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        with self._lock:
            self._open = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._open:
                return
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class Fault:
    """One switched-on fault. ``times=None`` keeps it on until cleared or released."""

    type: FaultType
    kinds: frozenset[str] = ALL_KINDS
    digest: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    times: int | None = None
    status: int = 500  # for ERROR
    after_bytes: int | None = None  # for body faults: where in the body; None = half way
    seconds: float | None = None  # for STALL: None = until released
    id: str = field(default_factory=lambda: f"f{next(_ids)}")
    hits: int = 0
    _gate: _Gate = field(default_factory=_Gate, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - ALL_KINDS
        if unknown:
            raise ValueError(f"unknown request kinds {sorted(unknown)}; use some of {sorted(ALL_KINDS)}")
        if self.type.damages_body and not self.kinds & BODY_KINDS:
            raise ValueError(f"a {self.type.value} fault needs a kind with a body: {sorted(BODY_KINDS)}")
        if self.type is FaultType.ERROR and not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {self.status}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for every matching request)")
        if self.digest is not None:
            self.digest = normalize_digest(self.digest)
        if self.path is not None:
            re.compile(self.path)

    @property
    def exhausted(self) -> bool:
        return self._gate.is_open or (self.times is not None and self.hits >= self.times)

    def matches(self, kind: str, path: str, digest: str | None, has_body: bool) -> bool:
        if kind not in self.kinds or (self.type.damages_body and not has_body):
            return False
        if self.digest is not None and digest != self.digest:
            return False
        return self.path is None or re.search(self.path, path) is not None

    def release(self) -> None:
        """Let stalled responses go on, and switch the fault off."""
        self._gate.open()

    async def wait_released(self) -> None:
        await self._gate.wait(self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type.value,
            "kinds": sorted(self.kinds),
            "digest": self.digest,
            "path": self.path,
            "times": self.times,
            "status": self.status,
            "after_bytes": self.after_bytes,
            "seconds": self.seconds,
            "hits": self.hits,
            "active": not self.exhausted,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Fault:
        """Build a fault from the control endpoint's JSON (``type`` required, the rest optional)."""
        known = {"type", "kinds", "digest", "path", "times", "status", "after_bytes", "seconds"}
        unknown = set(document) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; use some of {sorted(known)}")
        try:
            fault_type = FaultType(document["type"])
        except (KeyError, ValueError):
            raise ValueError(f"fault 'type' must be one of {[t.value for t in FaultType]}") from None
        options = {key: value for key, value in document.items() if key != "type" and value is not None}
        for key, number_type in _NUMBER_FIELDS.items():
            if key in options:
                value = options[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"fault field {key!r} must be a number, got {value!r}")
                options[key] = number_type(value)
        if "kinds" in options:
            options["kinds"] = _kinds(options["kinds"])
        elif fault_type.damages_body:
            options["kinds"] = BODY_FAULT_KINDS
        return cls(type=fault_type, **options)


_NUMBER_FIELDS: dict[str, type[int] | type[float]] = {
    "times": int,
    "status": int,
    "after_bytes": int,
    "seconds": float,
}


class FaultScope(TypedDict, total=False):
    """Which requests a fault switch applies to; every key is optional and they all must match.

    ``kinds``: request kinds (one name or several, see ``REQUEST_KINDS``); by default every kind for
    a status fault, ``cdn_get`` for a fault that damages a body. ``digest``: only requests for this
    blob. ``path``: a regular expression searched in the request path. ``times``: switch off after
    this many matching requests (``None``: stay on until cleared or released).
    """

    kinds: str | Iterable[str]
    digest: str | None
    path: str | None
    times: int | None


def _kinds(kinds: str | Iterable[str]) -> frozenset[str]:
    return frozenset({kinds} if isinstance(kinds, str) else kinds)


class Faults:
    """The active faults of one registry emulator; the first matching fault applies to a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _switch_on(self, fault_type: FaultType, scope: Mapping[str, Any], **details: Any) -> Fault:
        """Add a fault of ``fault_type`` limited to ``scope`` (see :class:`FaultScope`); ``details`` are
        the options of that fault type."""
        unknown = set(scope) - set(FaultScope.__annotations__)
        if unknown:
            raise TypeError(
                f"unknown fault scope {sorted(unknown)}; use some of {sorted(FaultScope.__annotations__)}"
            )
        kinds = scope.get("kinds", BODY_FAULT_KINDS if fault_type.damages_body else ALL_KINDS)
        fault = Fault(
            fault_type,
            _kinds(kinds),
            digest=scope.get("digest"),
            path=scope.get("path"),
            times=scope.get("times"),
            **details,
        )
        return self.add(fault)

    def error(self, status: int = 500, **scope: Unpack[FaultScope]) -> Fault:
        """Answer matching requests with ``status`` and a registry error body."""
        return self._switch_on(FaultType.ERROR, scope, status=status)

    def not_found(self, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 404 as if the manifest or blob did not exist."""
        return self._switch_on(FaultType.NOT_FOUND, scope)

    def unauthorized(self, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 401 with a ``WWW-Authenticate: Bearer realm=…`` challenge."""
        return self._switch_on(FaultType.UNAUTHORIZED, scope)

    def corrupt(self, **scope: Unpack[FaultScope]) -> Fault:
        """Serve wrong bytes (the first byte of the body flipped); the length stays right."""
        return self._switch_on(FaultType.CORRUPT, scope)

    def truncate(self, *, after_bytes: int | None = None, **scope: Unpack[FaultScope]) -> Fault:
        """Close the connection after ``after_bytes`` of the body (default: half of it)."""
        return self._switch_on(FaultType.TRUNCATE, scope, after_bytes=after_bytes)

    def stall(
        self, *, after_bytes: int | None = None, seconds: float | None = None, **scope: Unpack[FaultScope]
    ) -> Fault:
        """Send ``after_bytes`` (default half), then hang for ``seconds`` or until :meth:`Fault.release`."""
        return self._switch_on(FaultType.STALL, scope, after_bytes=after_bytes, seconds=seconds)

    def take(self, kind: str, path: str, digest: str | None = None, *, has_body: bool) -> Fault | None:
        """The fault that applies to this request, counted as used; ``None`` if none does."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(kind, path, digest, has_body):
                    fault.hits += 1
                    return fault
        return None

    def get(self, fault_id: str) -> Fault | None:
        with self._lock:
            return next((fault for fault in self._faults if fault.id == fault_id), None)

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self._faults if not fault.exhausted]

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove(self, fault: Fault) -> None:
        """Switch ``fault`` off (releasing anything it stalls)."""
        fault.release()
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        """Switch every fault off, releasing stalled responses."""
        with self._lock:
            faults, self._faults = self._faults, []
        for fault in faults:
            fault.release()
