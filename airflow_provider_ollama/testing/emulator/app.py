"""Assemble the emulator's ASGI app: Ollama's routes, the control endpoints and the middleware stack.

Store and transfer routes live here; inference routes (generate, chat, embed, ps) come from
``inference_routes.py`` so each half of the emulator stays in its own modules.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import (
    account_routes,
    blobs,
    create,
    pull,
    push,
    store_routes,
)
from airflow_provider_ollama.testing.emulator.control_routes import control_routes
from airflow_provider_ollama.testing.emulator.faults import FaultMiddleware
from airflow_provider_ollama.testing.emulator.http import ApiError, error_response, json_response
from airflow_provider_ollama.testing.emulator.inference_routes import inference_routes
from airflow_provider_ollama.testing.emulator.middleware import (
    AccessLogMiddleware,
    AllowedHostsMiddleware,
    BearerTokenMiddleware,
    GinRoutingMiddleware,
    StartDelayMiddleware,
)
from airflow_provider_ollama.testing.emulator.state import EmulatorState

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")
# The store and transfer halves of the API, each a module with a ``routes()`` factory.
_ROUTE_MODULES = (store_routes, blobs, pull, push, create, account_routes)


async def root(request: Request) -> Response:
    return Response(b"Ollama is running", headers={"content-type": "text/plain; charset=utf-8"})


async def version(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    return json_response({"version": state.settings.version})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        headers = {"content-type": "text/plain", **(exc.headers or {})}
        return Response(b"405 method not allowed", status_code=405, headers=headers)
    if exc.status_code == 404:
        return Response(b"404 page not found", status_code=404, headers={"content-type": "text/plain"})
    return error_response(exc.status_code, exc.detail)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    _log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, str(exc))


def ollama_routes() -> list[BaseRoute]:
    """Every Ollama route the emulator serves."""
    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", version, methods=["GET", "HEAD"]),
    ]
    for module in _ROUTE_MODULES:
        routes += module.routes()
    routes += inference_routes()
    return routes


def _default_log(line: str) -> None:
    _log.info("%s", line)


def _lifespan(state: EmulatorState) -> Callable[[Starlette], Any]:
    """On shutdown, unload every model: a real model's runner process never outlives the emulator."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.scheduler.close()

    return lifespan


def create_app(state: EmulatorState, *, log: Callable[[str], None] | None = None) -> Starlette:
    """The emulator app for ``state``; ``log`` receives gin-style request lines (default: logging).

    Serve it with the ASGI lifespan on (``make_uvicorn_server(..., lifespan="on")``), so that
    stopping the server closes the model runners."""
    settings = state.settings
    app = Starlette(
        lifespan=_lifespan(state),
        routes=[*ollama_routes(), *control_routes()],
        middleware=[
            Middleware(StartDelayMiddleware, state=state),
            Middleware(AccessLogMiddleware, state=state, log=log or _default_log),
            Middleware(AllowedHostsMiddleware, bound_host=settings.host),
            Middleware(BearerTokenMiddleware, token=settings.required_token),
            Middleware(GinRoutingMiddleware),
            Middleware(FaultMiddleware, faults=state.faults),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.emulator = state
    return app
