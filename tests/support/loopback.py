"""Hand-made TCP servers on 127.0.0.1 for faults no real server is made to show (silence, bad TLS)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def accepting(handle: Callable[[socket.socket], None], *, name: str) -> Iterator[int]:
    """A port on 127.0.0.1 whose connections go to ``handle`` in turn, on one thread; closed afterwards.

    ``handle`` must not raise: an error of one connection would stop the server.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)

    def accept_forever() -> None:
        with contextlib.suppress(OSError):  # the listener was closed: done
            while True:
                connection, _ = listener.accept()
                handle(connection)

    acceptor = threading.Thread(target=accept_forever, name=name, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        acceptor.join(5)
