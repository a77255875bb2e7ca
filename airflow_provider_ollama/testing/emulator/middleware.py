"""The layers every request passes before a handler, in the order Ollama's gin engine applies them.

Request log and counters, the start-up delay, the allowed-hosts check, an optional bearer token, and
gin's routing answers (405 for a wrong method, 301/307 for a trailing slash); faults come last.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.faults import CONTROL_PREFIX
from airflow_provider_ollama.testing.emulator.state import EmulatorState

#: The routes Ollama's gin engine registers (server/routes.go), with exactly the methods it allows.
OLLAMA_ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    "/api/version": ("GET", "HEAD"),
    "/api/pull": ("POST",),
    "/api/push": ("POST",),
    "/api/tags": ("GET", "HEAD"),
    "/api/show": ("POST",),
    "/api/delete": ("DELETE",),
    "/api/create": ("POST",),
    "/api/blobs/:digest": ("POST", "HEAD"),
    "/api/copy": ("POST",),
    "/api/ps": ("GET",),
    "/api/generate": ("POST",),
    "/api/chat": ("POST",),
    "/api/embed": ("POST",),
    "/api/embeddings": ("POST",),
    "/api/status": ("GET",),
    "/api/me": ("POST",),
    "/api/signout": ("POST",),
    "/api/user/keys/:encodedKey": ("DELETE",),
    "/api/experimental/web_search": ("POST",),
    "/api/experimental/web_fetch": ("POST",),
    "/api/experimental/model-recommendations": ("GET",),
    "/v1/chat/completions": ("POST",),
    "/v1/completions": ("POST",),
    "/v1/embeddings": ("POST",),
    "/v1/models": ("GET",),
    "/v1/models/:model": ("GET",),
    "/v1/responses": ("POST",),
    "/v1/audio/transcriptions": ("POST",),
    "/v1/messages": ("POST",),
}
#: Routes ending in one path parameter, by the prefix before it.
_PARAMETER_ROUTES = {
    "/api/blobs": "/api/blobs/:digest",
    "/v1/models": "/v1/models/:model",
    "/api/user/keys": "/api/user/keys/:encodedKey",
}

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def gin_route(path: str) -> str | None:
    """The gin pattern a path matches (``/api/blobs/sha256:..`` -> ``/api/blobs/:digest``), if any."""
    if path in OLLAMA_ROUTES:
        return path
    prefix, _, rest = path.rpartition("/")
    if rest and prefix in _PARAMETER_ROUTES:
        return _PARAMETER_ROUTES[prefix]
    return None


async def _send_plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class AccessLogMiddleware:
    """gin's request log line on every request, and the request counters."""

    def __init__(self, app: ASGIApp, state: EmulatorState, log: Callable[[str], None]) -> None:
        self.app = app
        self.state = state
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        method = str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        self.state.stats.record_arrival(method, path)
        status = 500
        bytes_in = 0
        bytes_out = 0

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self.state.stats.record_completion(status, bytes_in, bytes_out)
            client = scope.get("client") or ("", 0)
            self.log(
                f"[GIN] {datetime.now():%Y/%m/%d - %H:%M:%S} | {status:3d} | "
                f"{gojson.format_duration(time.monotonic() - started):>13} | {client[0]:>15} | "
                f"{method:<7} {gojson.go_quote(path)}"
            )


class StartDelayMiddleware:
    """Hold every request until the emulated start-up (GPU discovery) is over."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remaining = self.state.ready_at - time.monotonic()
        if remaining > 0 and scope["type"] == "http":
            await asyncio.sleep(remaining)
        await self.app(scope, receive, send)


def host_is_allowed(host_header: str) -> bool:
    """Ollama's ``allowedHostsMiddleware`` test for a server bound to loopback."""
    host = host_header
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return address.is_loopback or address.is_private or address.is_unspecified
    if host in ("", "localhost") or host == socket.gethostname().lower():
        return True
    return host.endswith(_LOCAL_SUFFIXES)


class AllowedHostsMiddleware:
    """403 (empty body) for a non-local ``Host`` header when the server listens on loopback."""

    def __init__(self, app: ASGIApp, bound_host: str) -> None:
        self.app = app
        try:
            self.enabled = ipaddress.ip_address(bound_host.strip("[]")).is_loopback
        except ValueError:
            self.enabled = bound_host == "localhost"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.enabled:
            host = _header(scope, b"host")
            if not host_is_allowed(host):
                await _send_plain(send, 403, b"", [])
                return
            if scope.get("method") == "OPTIONS":
                await _send_plain(send, 204, b"", [])
                return
        await self.app(scope, receive, send)


class BearerTokenMiddleware:
    """401 ``{"error":"unauthorized"}`` unless ``Authorization: Bearer <token>``.

    Ollama itself has no token check; servers shared over a network sit behind an authenticating
    proxy, which answers like this. Emulator control endpoints stay open so tests can reach them.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.expected is not None
            and not str(scope.get("path", "")).startswith(CONTROL_PREFIX)
        ):
            given = _header(scope, b"authorization").encode("latin-1")
            if not hmac.compare_digest(given, self.expected):
                body = gojson.dumps({"error": "unauthorized"})
                headers = [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"www-authenticate", b"Bearer"),
                ]
                await _send_plain(send, 401, body, headers)
                return
        await self.app(scope, receive, send)


class GinRoutingMiddleware:
    """gin's answers for a known path with the wrong method (405 + ``Allow``) and for a trailing
    slash (redirect to the path without it); unknown paths fall through to the 404 handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        method = str(scope.get("method", ""))
        route = gin_route(path)
        if route is None and path.endswith("/") and path != "/" and gin_route(path.rstrip("/")):
            await self._redirect(send, method, path.rstrip("/"), scope)
            return
        if route is not None and method not in OLLAMA_ROUTES[route]:
            allow = ", ".join(OLLAMA_ROUTES[route]).encode()
            headers = [(b"content-type", b"text/plain"), (b"allow", allow)]
            await _send_plain(send, 405, b"405 method not allowed", headers)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _redirect(send: Send, method: str, target: str, scope: Scope) -> None:
        query = scope.get("query_string", b"")
        location = target + ("?" + query.decode("latin-1") if query else "")
        status = 301 if method == "GET" else 307
        headers = [(b"location", location.encode())]
        body = b""
        if method in ("GET", "HEAD"):
            # Go's http.Redirect writes a small HTML body only for GET and HEAD.
            headers.append((b"content-type", b"text/html; charset=utf-8"))
            body = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode() if method == "GET" else b""
        await _send_plain(send, status, body, headers)
