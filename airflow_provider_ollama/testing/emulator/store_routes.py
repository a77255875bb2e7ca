"""Local model management routes: list (``/api/tags``), show, copy and delete.

Each reads the store from disk on every request, as Ollama does, so models written or removed
behind the server's back (a restored cache, a test fixture) are seen at once.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.store import InvalidManifestError, Manifest, atomic_write
from airflow_provider_ollama.testing.emulator import catalog, gojson
from airflow_provider_ollama.testing.emulator.http import (
    ApiError,
    empty_response,
    json_response,
    read_json_body,
)
from airflow_provider_ollama.testing.emulator.inference_steps import (
    ModelRequiredError,
    cloud_unavailable,
    legacy_cloud_name,
    parse_model_ref,
)
from airflow_provider_ollama.testing.emulator.show import list_entry, show_response
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from airflow_provider_ollama.testing.emulator.storage import remove_manifest, remove_unreferenced_blobs


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def list_models(request: Request) -> Response:
    """``GET|HEAD /api/tags``: every listable model, most recently modified first."""
    entries = [
        (summary.mtime_ns // 1_000_000_000, str(summary.name), list_entry(summary))
        for summary in catalog.list_summaries(_state(request).store)
    ]
    # Ollama sorts by whole seconds, newest first (a stable sort over Go's random map order);
    # ties are ordered by name here so the answer is stable.
    entries.sort(key=lambda item: (-item[0], item[1]))
    return json_response({"models": [entry for _, _, entry in entries]})


_SHOW_FIELDS = {
    "model": "string",
    "name": "string",
    "system": "string",
    "template": "string",
    "verbose": "bool",
    "options": "map[string]interface {}",
}


def show_model(state: EmulatorState, body: dict[str, Any], *, user_agent: str = "") -> dict[str, Any]:
    """ShowHandler's answer for ``body`` (an ``api.ShowRequest``), or an :class:`ApiError`."""
    text = body.get("model") or body.get("name") or ""
    if not text:
        raise ApiError(400, "model is required")
    ref = parse_model_ref(str(text))
    try:
        name = ModelName.parse(ref.base)
    except InvalidModelNameError:
        raise ApiError(400, "invalid model name") from None
    if ref.source == "cloud":
        raise cloud_unavailable(state.settings, "/api/show", "remote model details are unavailable")
    name = state.existing_name(name)
    model = state.load(name)
    if model is None:
        raise ApiError(404, f"model '{name.display_shortest()}' not found")
    if ref.source == "local" and model.config.get("remote_host"):
        raise ApiError(404, f"model '{ref.original}' not found")
    response = show_response(
        model,
        state.store,
        verbose=bool(body.get("verbose")),
        system=body.get("system") or None,
        options=body.get("options") or None,
    )
    if user_agent.startswith("GitHubCopilotChat/"):
        response["model_info"] = gojson.sorted_map({**response["model_info"], "general.basename": str(text)})
    return response


async def show(request: Request) -> Response:
    """``POST /api/show``."""
    body = await read_json_body(request, fields=_SHOW_FIELDS, struct="ShowRequest")
    agent = request.headers.get("user-agent", "")
    return json_response(show_model(_state(request), body, user_agent=agent))


_COPY_FIELDS = {"source": "string", "destination": "string"}


def _parse_copy_name(text: str, role: str) -> ModelName:
    try:
        return ModelName.parse(text)
    except InvalidModelNameError:
        raise ApiError(400, f"{role} {gojson.go_quote(text)} is invalid") from None


async def copy(request: Request) -> Response:
    """``POST /api/copy``: the manifest file copied byte for byte under the new name."""
    state = _state(request)
    body = await read_json_body(request, fields=_COPY_FIELDS, struct="CopyRequest")
    source_text = str(body.get("source") or "")
    destination_text = str(body.get("destination") or "")
    source = state.existing_name(_parse_copy_name(source_text, "source"))
    destination = state.existing_name(_parse_copy_name(destination_text, "destination"))
    source_path = state.store.find_manifest(source)
    if source_path is None:
        raise ApiError(404, f"model {gojson.go_quote(source_text)} not found")
    destination_path = state.store.manifests_dir.joinpath(*destination.manifest_path.parts)
    if destination_path != source_path:
        atomic_write(destination_path, source_path.read_bytes())
    return empty_response()


_DELETE_FIELDS = {"model": "string", "name": "string"}


async def delete(request: Request) -> Response:
    """``DELETE /api/delete``: remove the manifest, then every blob no other manifest uses.

    The model stays loaded if it is (Ollama's DeleteHandler does not touch the scheduler).
    """
    state = _state(request)
    body = await read_json_body(request, fields=_DELETE_FIELDS, struct="DeleteRequest")
    text = str(body.get("model") or body.get("name") or "")
    try:
        ref = parse_model_ref(text)
    except ModelRequiredError:
        raise ApiError(400, "model is required") from None
    base = legacy_cloud_name(ref)
    try:
        name = ModelName.parse(base)
    except InvalidModelNameError:
        raise ApiError(400, f"name {gojson.go_quote(text)} is invalid") from None
    path = state.store.find_manifest(state.existing_name(name))
    if path is None:
        raise ApiError(404, f"model '{text}' not found")
    try:
        manifest = Manifest.parse(path.read_bytes())
    except (OSError, InvalidManifestError) as error:
        raise ApiError(500, str(error)) from None
    remove_manifest(state.store, path)
    remove_unreferenced_blobs(state.store, [blob.digest for blob in manifest.blobs])
    return empty_response()


def routes() -> list[BaseRoute]:
    return [
        Route("/api/tags", list_models, methods=["GET", "HEAD"]),
        Route("/api/show", show, methods=["POST"]),
        Route("/api/copy", copy, methods=["POST"]),
        Route("/api/delete", delete, methods=["DELETE"]),
    ]
