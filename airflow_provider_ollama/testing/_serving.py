"""Run an ASGI app with uvicorn on a loopback socket, in a background thread or in the foreground.

The emulators share this so that every one of them binds its socket before it reports a URL (no
port races) and stops promptly and completely.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Literal

import uvicorn

from airflow_provider_ollama.testing._lifecycle import StartStopContext

_STOP_TIMEOUT_S = 10.0


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose protocol says
    # TCP, and without it every small response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def make_uvicorn_server(
    app: Any,
    *,
    log_level: str = "warning",
    server_header: bool = True,
    graceful_shutdown_s: int | None = None,
    server_class: type[uvicorn.Server] = uvicorn.Server,
    lifespan: Literal["auto", "on", "off"] = "off",
) -> uvicorn.Server:
    """A uvicorn server for ``app``; ``server_header=False`` drops ``Server: uvicorn`` (Go's net/http
    sends none), ``graceful_shutdown_s`` bounds how long stop waits for open responses, and
    ``lifespan="on"`` runs the app's start-up and shut-down (the Ollama emulator closes its model
    runners there)."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan=lifespan,
        ws="none",
        timeout_keep_alive=30,
        # Streams of progress lines must reach the client as they are produced.
        h11_max_incomplete_event_size=1 << 20,
        server_header=server_header,
        timeout_graceful_shutdown=graceful_shutdown_s,
    )
    return server_class(config)


class BackgroundServer(StartStopContext):
    """An ASGI app served on 127.0.0.1 from a daemon thread; use as a context manager."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **server_options: Any) -> None:
        self._app = app
        self._socket = bind_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = make_uvicorn_server(app, **server_options)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._failure is not None:
                raise RuntimeError(f"server on {self.url} failed to start") from self._failure
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server on {self.url} did not start within {timeout} s")
            # uvicorn exposes no start event; a short poll bounded by the deadline stands in.
            self._thread.join(0.005)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as error:  # reported to start(); the thread must not die silently
            self._failure = error

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT_S)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT_S)
        self._socket.close()
