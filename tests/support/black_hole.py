"""A server that accepts TCP connections and never answers: a hung Ollama, or a proxy that holds requests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts every connection and never sends a byte; closed afterwards."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []

    def accept_forever() -> None:
        with contextlib.suppress(OSError):  # the listener was closed: done
            while True:
                connection, _ = listener.accept()
                held.append(connection)

    acceptor = threading.Thread(target=accept_forever, name="black-hole", daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        acceptor.join(5)
        for connection in held:
            connection.close()
