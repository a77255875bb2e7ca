"""A TCP proxy on 127.0.0.1 that can break connections midway: real network faults for S3 downloads.

botocore sees exactly what a reset connection looks like (the response ends before its
Content-Length), because the proxy forwards real bytes from a real server and then closes both sockets.
Cuts are armed with a byte count: the first connections whose answers grow past it are closed at that
byte, each after an optional callback (a test can change the object behind the download there).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_BUFFER = 64 << 10
_JOIN_TIMEOUT = 10


@dataclass
class CutRule:
    """Close a connection once it has sent ``after_bytes`` towards the client, ``times`` times."""

    after_bytes: int
    times: int
    on_cut: Callable[[], None] | None = None
    cuts: int = 0


@dataclass
class CuttingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; ``cut`` arms a rule for the next answers."""

    upstream: tuple[str, int]
    port: int = 0
    _rule: CutRule | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cuts(self) -> int:
        """How many connections the proxy has broken so far."""
        return self._rule.cuts if self._rule else 0

    def cut(self, *, after_bytes: int, times: int = 1, on_cut: Callable[[], None] | None = None) -> None:
        self._rule = CutRule(after_bytes=after_bytes, times=times, on_cut=on_cut)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            server = socket.create_connection(self.upstream, timeout=_JOIN_TIMEOUT)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            self._start(self._pump, client, server, False)
            self._start(self._pump, server, client, True)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, towards_client: bool) -> None:
        sent = 0
        try:
            while data := source.recv(_BUFFER):
                rule = self._rule if towards_client else None
                if rule is not None and rule.cuts < rule.times and sent + len(data) > rule.after_bytes:
                    sink.sendall(data[: rule.after_bytes - sent])
                    rule.cuts += 1
                    if rule.on_cut is not None:
                        rule.on_cut()
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass  # the other direction closed the pair
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@contextlib.contextmanager
def cutting_proxy(upstream_endpoint: str) -> Iterator[CuttingProxy]:
    """A proxy in front of ``http://host:port``, stopped with every connection it opened on exit."""
    host, port = upstream_endpoint.removeprefix("http://").rstrip("/").split(":")
    proxy = CuttingProxy(upstream=(host, int(port)))
    listener = socket.create_server(("127.0.0.1", 0))
    proxy.port = listener.getsockname()[1]
    acceptor = threading.Thread(target=proxy._serve, args=(listener,), daemon=True)
    acceptor.start()
    try:
        yield proxy
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(_JOIN_TIMEOUT)
        with proxy._lock:
            sockets, threads = list(proxy._sockets), list(proxy._threads)
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
