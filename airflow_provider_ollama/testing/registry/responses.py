"""Streamed response bodies of the registry emulator, with byte counting and body faults.

Blob bytes go out chunk by chunk (never a whole blob in memory); a corrupt, truncate or stall fault
is applied on the way, and a client that hangs up stops the stream at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

import anyio
from starlette.types import Receive, Scope, Send

from airflow_provider_ollama.testing.registry.faults import Fault, FaultType

_INCOMPLETE_MESSAGE = "ASGI callable returned without completing response."


class _ExpectedTruncations(logging.Filter):
    """Hides uvicorn's error line for responses the emulator cut short on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending = 0

    def expect_one(self) -> None:
        with self._lock:
            self._pending += 1

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _INCOMPLETE_MESSAGE:
            return True
        with self._lock:
            if self._pending:
                self._pending -= 1
                return False
        return True


_expected_truncations = _ExpectedTruncations()
logging.getLogger("uvicorn.error").addFilter(_expected_truncations)


def _flip_first_byte(chunk: bytes) -> bytes:
    return bytes([chunk[0] ^ 0xFF]) + chunk[1:]


class StreamedBody:
    """An ASGI response that streams ``chunks`` (``length`` bytes in all) under a body fault."""

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        chunks: Iterable[bytes],
        length: int,
        fault: Fault | None = None,
        on_sent: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.status = status
        self.headers = {**headers, "content-length": str(length)}
        self._chunks = chunks
        self._length = length
        self._fault = fault if fault is not None and fault.type.damages_body else None
        self._on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(name.lower().encode(), value.encode()) for name, value in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        async with anyio.create_task_group() as group:

            async def stop_when_client_leaves() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(stop_when_client_leaves)
            await self._send_body(send)
            group.cancel_scope.cancel()

    def _cut_point(self) -> int | None:
        """Where a truncate or stall fault strikes, as an offset into this body."""
        if self._fault is None or self._fault.type is FaultType.CORRUPT:
            return None
        wanted = self._fault.after_bytes
        return min(self._length, self._length // 2 if wanted is None else max(0, wanted))

    async def _send_chunk(self, send: Send, chunk: bytes) -> None:
        # Counted before sending so a test that has read the body always sees its bytes counted.
        self._on_sent(len(chunk))
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _send_body(self, send: Send) -> None:
        cut = self._cut_point()
        corrupt = self._fault is not None and self._fault.type is FaultType.CORRUPT
        sent = 0
        for chunk in self._chunks:
            if corrupt and chunk:
                chunk, corrupt = _flip_first_byte(chunk), False
            if cut is not None and sent + len(chunk) >= cut:
                head, chunk = chunk[: cut - sent], chunk[cut - sent :]
                if head:
                    await self._send_chunk(send, head)
                    sent += len(head)
                cut = None
                if await self._strike(send):
                    return
            if chunk:
                await self._send_chunk(send, chunk)
                sent += len(chunk)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _strike(self, send: Send) -> bool:
        """Apply a truncate or stall fault at the cut; True if the response must end here."""
        assert self._fault is not None
        if self._fault.type is FaultType.TRUNCATE:
            # Returning with the body incomplete makes uvicorn close the connection.
            _expected_truncations.expect_one()
            return True
        await self._fault.wait_released()
        return False
