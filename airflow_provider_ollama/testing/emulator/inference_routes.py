"""The inference half of the emulator's REST API: the routes, and ``GET /api/ps``.

Handlers live in their own modules: :mod:`.completion_routes` (generate, chat), :mod:`.embed_routes`
(embed, embeddings) and :mod:`.openai_routes` (the ``/v1`` compatibility layer over the same steps) and :mod:`.anthropic_routes` (``/v1/messages``).
Text, tokens and vectors come from the model's engine (:mod:`.engine`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import anthropic_routes, openai_audio, openai_responses
from airflow_provider_ollama.testing.emulator.completion_routes import chat, generate
from airflow_provider_ollama.testing.emulator.embed_routes import embed, embeddings
from airflow_provider_ollama.testing.emulator.http import json_response
from airflow_provider_ollama.testing.emulator.inference_steps import state_of
from airflow_provider_ollama.testing.emulator.openai_routes import openai_routes


async def ps(request: Request) -> Response:
    """``GET /api/ps``: the loaded models, the one expiring last first."""
    return json_response({"models": state_of(request).scheduler.running()})


def inference_routes() -> list[BaseRoute]:
    """The routes to mount: POST generate, chat, embed, embeddings; GET ps; the ``/v1`` routes."""
    routes: list[BaseRoute] = [
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/embeddings", embeddings, methods=["POST"]),
        Route("/api/ps", ps, methods=["GET"]),
        *openai_routes(),
        *anthropic_routes.routes(),
        *openai_responses.routes(),
        *openai_audio.routes(),
    ]
    for route in routes:
        if isinstance(route, Route) and route.methods is not None:
            route.methods.discard("HEAD")  # gin registers no HEAD for these
    return routes
