"""Ollama 0.33's account, cloud-status and experimental routes, answered as an offline server does.

The emulator never reaches ollama.com, so each route gives the answer Ollama gives when that host
cannot be reached (``server/routes.go``: ``StatusHandler``, ``WhoamiHandler``, ``SignoutHandler``,
``webExperimentalProxyHandler``, ``ModelRecommendationsExperimentalHandler``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator.http import ApiError, json_response
from airflow_provider_ollama.testing.emulator.inference_steps import cloud_unavailable
from airflow_provider_ollama.testing.emulator.state import EmulatorState

_GIB = 1 << 30
#: ``defaultModelRecommendations`` (``server/model_recommendations.go``), served when the cache of
#: ollama.com's list is not available.
DEFAULT_RECOMMENDATIONS = [
    {
        "model": "kimi-k2.6:cloud",
        "description": "State-of-the-art coding, long-horizon execution, and multimodal agent swarm capability",
        "context_length": 262_144,
        "max_output_tokens": 262_144,
    },
    {
        "model": "glm-5.1:cloud",
        "description": "Reasoning and code generation",
        "context_length": 202_752,
        "max_output_tokens": 131_072,
    },
    {
        "model": "qwen3.5:cloud",
        "description": "Reasoning, coding, and agentic tool use with vision",
        "context_length": 262_144,
        "max_output_tokens": 32_768,
    },
    {
        "model": "minimax-m2.7:cloud",
        "description": "Fast, efficient coding and real-world productivity",
        "context_length": 204_800,
        "max_output_tokens": 128_000,
    },
    {"model": "gemma4", "description": "Reasoning and code generation locally", "vram_bytes": 12 * _GIB},
    {
        "model": "qwen3.5",
        "description": "Reasoning, coding, and visual understanding locally",
        "vram_bytes": 14 * _GIB,
    },
]


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def status(request: Request) -> Response:
    """``GET /api/status``: whether cloud features are disabled, and by what (env only here)."""
    disabled = _state(request).settings.no_cloud
    return json_response({"cloud": {"disabled": disabled, "source": "env" if disabled else "none"}})


async def whoami(request: Request) -> Response:
    """``POST /api/me``: the account lookup at ollama.com fails, which is not a 401."""
    return json_response({"error": "account unavailable"}, 503)


async def signout(request: Request) -> Response:
    """``POST /api/signout`` and ``DELETE /api/user/keys/:encodedKey``: disconnecting fails offline."""
    return json_response({"error": "there was an error signing out"}, 500)


def _web_proxy(path: str, operation: str) -> Callable[[Request], Awaitable[Response]]:
    """``webExperimentalProxyHandler``: an empty body is a 400, else the offline cloud proxy's answer."""

    async def handler(request: Request) -> Response:
        if not (await request.body()).strip():
            raise ApiError(400, "missing request body")
        raise cloud_unavailable(_state(request).settings, path, operation)

    return handler


async def recommendations(request: Request) -> Response:
    """``GET /api/experimental/model-recommendations``: the built-in list."""
    return json_response({"recommendations": DEFAULT_RECOMMENDATIONS})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/status", status, methods=["GET"]),
        Route("/api/me", whoami, methods=["POST"]),
        Route("/api/signout", signout, methods=["POST"]),
        Route("/api/user/keys/{encoded_key}", signout, methods=["DELETE"]),
        Route(
            "/api/experimental/web_search",
            _web_proxy("/api/web_search", "web search is unavailable"),
            methods=["POST"],
        ),
        Route(
            "/api/experimental/web_fetch",
            _web_proxy("/api/web_fetch", "web fetch is unavailable"),
            methods=["POST"],
        ),
        Route("/api/experimental/model-recommendations", recommendations, methods=["GET"]),
    ]
