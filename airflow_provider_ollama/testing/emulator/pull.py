"""``POST /api/pull``: fetch a model's manifest and blobs from a registry into the store.

The progress lines, their order and the failures (unknown model, insecure registry, corrupt blob)
are Ollama's; blobs already on disk are trusted and not downloaded again, new ones are verified.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import (
    InvalidDigestError,
    InvalidManifestError,
    Manifest,
    atomic_write,
    file_digest,
)
from airflow_provider_ollama.testing.emulator.download import download_blob
from airflow_provider_ollama.testing.emulator.http import ApiError, ndjson_response, read_json_body
from airflow_provider_ollama.testing.emulator.registry_client import RegistryClient
from airflow_provider_ollama.testing.emulator.registry_errors import RegistryError
from airflow_provider_ollama.testing.emulator.state import EmulatorState, parse_model_name
from airflow_provider_ollama.testing.emulator.storage import remove_unreferenced_blobs
from airflow_provider_ollama.testing.emulator.transfer import progress_event

_PULL_FIELDS = {"model": "string", "name": "string", "insecure": "bool", "stream": "bool"}


def _existing_blobs(state: EmulatorState, name: ModelName) -> set[str]:
    path = state.store.find_manifest(name)
    if path is None:
        return set()
    try:
        return {blob.digest for blob in Manifest.parse(path.read_bytes()).blobs}
    except (OSError, InvalidManifestError, InvalidDigestError):
        return set()


async def pull_model(
    state: EmulatorState, name: ModelName, *, insecure: bool
) -> AsyncIterator[dict[str, Any]]:
    """Ollama's ``PullModel``: yields progress events, raises ``ApiError(500, ...)`` on failure."""
    state.stats.add("pulls")
    replaced = _existing_blobs(state, name)
    try:
        registry = RegistryClient(state.settings, name, insecure=insecure)
    except RegistryError as error:
        raise ApiError(500, str(error)) from None
    yield {"status": "pulling manifest"}
    async with registry.session() as client:
        try:
            raw = await registry.manifest(client)
            # Ollama stores the registry's bytes as they came (so the model digest is the registry's).
            manifest = Manifest.parse(raw)
        except RegistryError as error:
            raise ApiError(500, f"pull model manifest: {error}") from None
        except (ValueError, InvalidManifestError, InvalidDigestError) as error:
            raise ApiError(500, f"pull model manifest: {error}") from None
        downloaded: list[str] = []
        for blob in manifest.blobs:
            path = state.store.blob_path(blob.digest)
            if path.is_file():
                size = path.stat().st_size
                yield progress_event("pulling", blob.digest, size, size)
                continue
            try:
                async for event in download_blob(state, registry, client, blob.digest):
                    yield event
            except RegistryError as error:
                raise ApiError(500, str(error)) from None
            downloaded.append(blob.digest)
    yield {"status": "verifying sha256 digest"}
    for digest in downloaded:
        path = state.store.blob_path(digest)
        actual, _ = await asyncio.to_thread(file_digest, path)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise ApiError(
                500, f"digest mismatch, file must be downloaded again: want {digest}, got {actual}"
            )
    yield {"status": "writing manifest"}
    atomic_write(state.store.manifests_dir.joinpath(*name.manifest_path.parts), manifest.raw)
    unused = replaced - {blob.digest for blob in manifest.blobs}
    if unused and not state.settings.noprune:
        yield {"status": "removing unused layers"}
        remove_unreferenced_blobs(state.store, unused)
    yield {"status": "success"}


async def pull(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    body = await read_json_body(request, fields=_PULL_FIELDS, struct="PullRequest")
    name = state.existing_name(parse_model_name(str(body.get("model") or body.get("name") or "")))
    events = pull_model(state, name, insecure=bool(body.get("insecure")))
    return await ndjson_response(events, stream=body.get("stream") is not False)


def routes() -> list[BaseRoute]:
    return [Route("/api/pull", pull, methods=["POST"])]
