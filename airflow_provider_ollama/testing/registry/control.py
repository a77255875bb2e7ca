"""The registry emulator's ``/_emulator`` control routes: faults, counters and models over HTTP.

They let a test or a benchmark drive an emulator running in another process exactly as the Python
API drives one in-process (``RegistryEmulator.faults`` / ``.stats`` / ``.add_model``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_provider_ollama.testing.gguf import GGUFSpec
from airflow_provider_ollama.testing.registry.catalogue import RegistryModelSpec
from airflow_provider_ollama.testing.registry.faults import Fault
from airflow_provider_ollama.testing.registry.state import RegistryState

_MODEL_FIELDS = {
    "repository",
    "tag",
    "gguf",
    "template",
    "system",
    "params",
    "license",
    "messages",
    "config_extra",
}


def model_spec_from_json(document: Mapping[str, Any]) -> RegistryModelSpec:
    """A model spec from ``{"repository", "tag"?, "gguf"?: {GGUFSpec fields}, "template"?, …}``."""
    unknown = set(document) - _MODEL_FIELDS
    if unknown:
        raise ValueError(f"unknown model fields {sorted(unknown)}; use some of {sorted(_MODEL_FIELDS)}")
    if not isinstance(document.get("repository"), str):
        raise ValueError("'repository' (e.g. 'library/big') is required")
    options = dict(document)
    gguf = options.pop("gguf", None) or {}
    if not isinstance(gguf, dict):
        raise ValueError("'gguf' must be an object of GGUFSpec fields")
    try:
        return RegistryModelSpec(gguf=GGUFSpec(**gguf), **options)
    except TypeError as error:
        raise ValueError(str(error)) from None


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        document = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise ValueError(f"request body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("request body must be a JSON object")
    return document


def _bad_request(error: Exception) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=400)


def control_routes(state: RegistryState) -> list[Route]:
    """Routes under ``/_emulator`` acting on ``state``."""

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats.snapshot().to_json())

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": [fault.to_json() for fault in state.faults.all()]})

    async def add_fault(request: Request) -> Response:
        try:
            fault = state.faults.add(Fault.from_json(await _json_object(request)))
        except (ValueError, TypeError) as error:
            return _bad_request(error)
        return JSONResponse(fault.to_json(), status_code=201)

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return Response(status_code=204)

    async def remove_fault(request: Request) -> Response:
        fault = state.faults.get(str(request.path_params["fault_id"]))
        if fault is None:
            return JSONResponse({"error": "no such fault"}, status_code=404)
        state.faults.remove(fault)
        return Response(status_code=204)

    async def release_fault(request: Request) -> Response:
        fault = state.faults.get(str(request.path_params["fault_id"]))
        if fault is None:
            return JSONResponse({"error": "no such fault"}, status_code=404)
        fault.release()
        return JSONResponse(fault.to_json())

    async def reset(request: Request) -> Response:
        state.faults.clear()
        state.stats.reset()
        return Response(status_code=204)

    async def list_models(request: Request) -> Response:
        names = [f"{repository}:{tag}" for repository, tag in state.catalogue.names]
        return JSONResponse({"models": names})

    async def add_model(request: Request) -> Response:
        try:
            spec = model_spec_from_json(await _json_object(request))
        except ValueError as error:
            return _bad_request(error)
        # Hashing a multi-GiB GGUF takes seconds: keep the event loop serving meanwhile.
        model = await anyio.to_thread.run_sync(state.catalogue.add, spec)
        body = {
            "name": f"{spec.repository}:{spec.tag}",
            "digest": model.digest,
            "model_digest": model.model_digest,
            "size": model.manifest.total_size,
        }
        return JSONResponse(body, status_code=201)

    async def token(request: Request) -> Response:
        """The realm: a token for a request signed with an Ollama key (see :mod:`.auth`)."""
        refusal = state.auth.check_signature(str(request.url), request.headers.get("authorization", ""))
        if refusal is not None:
            body = {"errors": [{"code": "UNAUTHORIZED", "message": refusal, "detail": {}}]}
            return JSONResponse(body, status_code=401)
        return JSONResponse({"token": state.auth.issue()})

    return [
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/faults", list_faults, methods=["GET"]),
        Route("/_emulator/faults", add_fault, methods=["POST"]),
        Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/_emulator/faults/{fault_id}", remove_fault, methods=["DELETE"]),
        Route("/_emulator/faults/{fault_id}/release", release_fault, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/models", list_models, methods=["GET"]),
        Route("/_emulator/models", add_model, methods=["POST"]),
        Route("/_emulator/token", token, methods=["GET"]),
    ]
