"""Emulator-only endpoints under ``/_emulator/``: faults, counters, reset and identity.

Tests that run the emulator in another process (or any language) switch faults and read counters
here; the Ollama routes stay exactly as Ollama serves them.
"""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator.faults import FaultUnavailableError
from airflow_provider_ollama.testing.emulator.http import ApiError, json_response, read_json_body
from airflow_provider_ollama.testing.emulator.state import EmulatorState


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def get_faults(request: Request) -> Response:
    return json_response(_state(request).faults.describe())


async def post_faults(request: Request) -> Response:
    """Switch one fault on (see :meth:`Faults.configure` for the JSON shape); answers the rule set."""
    state = _state(request)
    spec = await read_json_body(request)
    try:
        state.faults.configure(spec)
    except (FaultUnavailableError, ValueError, TypeError) as error:
        raise ApiError(400, str(error)) from None
    return json_response(state.faults.describe())


async def get_stats(request: Request) -> Response:
    state = _state(request)
    snapshot = state.stats.snapshot()
    scheduler_stats = getattr(state.scheduler, "stats", None)
    if scheduler_stats is not None and hasattr(scheduler_stats, "snapshot"):
        snapshot["scheduler"] = scheduler_stats.snapshot()
    return json_response(snapshot)


async def post_stats_reset(request: Request) -> Response:
    """Zero the counters (faults stay as they are)."""
    _state(request).stats.reset()
    return json_response({"status": "reset"})


async def post_reset(request: Request) -> Response:
    """Clear every fault and counter."""
    state = _state(request)
    state.faults.clear()
    state.stats.reset()
    return json_response({"status": "reset"})


async def get_info(request: Request) -> Response:
    state = _state(request)
    settings = state.settings
    return json_response(
        {
            "pid": os.getpid(),
            "version": settings.version,
            "models_dir": str(settings.models_dir),
            "registry_url": settings.registry_url,
            "exit_allowed": state.faults.exit_allowed,
            # What answers for each loaded model: a real model's runner process, or the synthetic engine.
            "runners": [
                {
                    "model": model.name.display_shortest(),
                    "engine": "llama.cpp" if runner.measured else "synthetic",
                    "pid": runner.pid,
                }
                for model, runner in state.scheduler.loaded_runners()
            ],
        }
    )


def control_routes() -> list[BaseRoute]:
    return [
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", post_faults, methods=["POST"]),
        Route("/_emulator/stats", get_stats, methods=["GET"]),
        Route("/_emulator/stats/reset", post_stats_reset, methods=["POST"]),
        Route("/_emulator/reset", post_reset, methods=["POST"]),
        Route("/_emulator/info", get_info, methods=["GET"]),
    ]
