"""``HEAD|POST /api/blobs/:digest``: check for a blob, or upload one with its sha256 verified.

Uploads stream to a temp file beside the store while being hashed (the async client sends them
chunked); an upload whose bytes do not match the digest in the URL leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.store import is_valid_digest
from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.http import ApiError, empty_response
from airflow_provider_ollama.testing.emulator.state import EmulatorState

INVALID_DIGEST = "invalid digest format"


def blob_path_for(state: EmulatorState, digest: str) -> Path:
    """Where Ollama looks for the blob a URL names: ``:`` becomes ``-``, letter case is kept."""
    if not is_valid_digest(digest):
        raise ApiError(400, INVALID_DIGEST)
    return state.store.blobs_dir / digest.replace(":", "-", 1)


async def head_blob(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    digest = request.path_params["digest"]
    if not blob_path_for(state, digest).exists():
        raise ApiError(404, f"blob {gojson.go_quote(digest)} not found")
    return empty_response()


async def create_blob(request: Request) -> Response:
    """Store the request body as a blob: 200 (body unread) if it exists, 201 once verified."""
    state: EmulatorState = request.app.state.emulator
    digest = request.path_params["digest"]
    target = blob_path_for(state, digest)
    if target.exists():
        return empty_response(200)
    state.store.blobs_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=state.store.blobs_dir, prefix="sha256-")
    temp = Path(temp_name)
    hasher = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in request.stream():
                hasher.update(chunk)
                handle.write(chunk)
                size += len(chunk)
        received = "sha256:" + hasher.hexdigest()
        if received != digest:
            raise ApiError(
                400,
                f"digest mismatch, expected {gojson.go_quote(digest)}, got {gojson.go_quote(received)}",
            )
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except ClientDisconnect:
        return empty_response(499)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    state.stats.add("blob_uploads")
    state.stats.add("blob_bytes_uploaded", size)
    return empty_response(201)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/blobs/{digest}", head_blob, methods=["HEAD"]),
        Route("/api/blobs/{digest}", create_blob, methods=["POST"]),
    ]
