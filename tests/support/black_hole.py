"""A server that accepts TCP connections and never answers: a hung Ollama, or a proxy that holds requests."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from tests.support.loopback import accepting


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts every connection and never sends a byte; closed afterwards."""
    held: list[socket.socket] = []
    try:
        with accepting(held.append, name="black-hole") as port:
            yield port
    finally:
        for connection in held:
            connection.close()
