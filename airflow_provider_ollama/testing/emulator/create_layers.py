"""Where ``/api/create`` gets its layers: uploaded GGUF blobs, a base model, a remote host.

Follows Ollama 0.33's ``server/create.go`` (``convertModelFromFilesWithMediaType``,
``detectModelTypeFromFiles``, ``ggufLayersWithMediaType``, ``remoteURL``) and ``server/model.go``
(``parseFromModel``). Errors carry the status Ollama's handler gives them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.store import (
    LAYER_MEDIA_TYPE_PREFIX,
    InvalidDigestError,
    InvalidManifestError,
    Manifest,
    is_valid_digest,
)
from airflow_provider_ollama.testing.emulator import catalog
from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.inference_steps import (
    CLOUD_BASE_URL,
    ModelRequiredError,
    parse_model_ref,
)
from airflow_provider_ollama.testing.emulator.layers import BuildLayer, existing_layer
from airflow_provider_ollama.testing.emulator.pull import pull_model
from airflow_provider_ollama.testing.emulator.state import INVALID_MODEL_NAME, EmulatorState
from airflow_provider_ollama.testing.gguf import GGUFFormatError

MODEL = LAYER_MEDIA_TYPE_PREFIX + "model"
ADAPTER = LAYER_MEDIA_TYPE_PREFIX + "adapter"
PROJECTOR = LAYER_MEDIA_TYPE_PREFIX + "projector"
DRAFT = LAYER_MEDIA_TYPE_PREFIX + "draft"
GGUF_KINDS = (MODEL, ADAPTER, PROJECTOR, DRAFT)
NOT_GGUF = "supplied file was not in GGUF format"
UNKNOWN_TYPE = "unknown type"
ONE_ADAPTER = "only one adapter is currently supported"
INVALID_DIGEST = "invalid digest format"
FILE_PATH = "file path must be relative"
_GGUF_MAGICS = (b"GGUF", b"FUGG")


def validate_files(files: Any, *, paths: bool) -> None:
    """The handler's checks before streaming: ``fs.ValidPath`` names (``paths``), non-empty digests."""
    for path, digest in (files or {}).items():
        if paths and not _valid_path(path):
            raise ApiError(400, FILE_PATH)
        if digest == "":
            raise ApiError(400, INVALID_DIGEST)


def _valid_path(path: str) -> bool:
    """Go's ``io/fs.ValidPath``: ``.`` or unrooted slash-separated elements, none empty, ``.`` or ``..``."""
    if path == ".":
        return True
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _blob_magic(state: EmulatorState, digest: str) -> bytes | None:
    if not is_valid_digest(digest):
        return None
    try:
        with state.store.blob_path(digest).open("rb") as handle:
            return handle.read(4)
    except OSError:
        return None


def _detect_type(state: EmulatorState, files: Mapping[str, str]) -> str:
    """``detectModelTypeFromFiles``: by extension, else by the GGUF magic of the blob."""
    for path, digest in files.items():
        if path.endswith(".safetensors"):
            return "safetensors"
        if path.endswith(".gguf"):
            return "gguf"
        return "gguf" if _blob_magic(state, digest) in _GGUF_MAGICS else ""
    return ""


def gguf_layer(state: EmulatorState, source: str, digest: str, media_type: str | None) -> BuildLayer:
    """``ggufLayersWithMediaType`` after its ``parsing GGUF`` line (500 unless said otherwise)."""
    if not is_valid_digest(digest):
        raise ApiError(500, INVALID_DIGEST)
    path = state.store.blob_path(digest)
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ApiError(500, f"open {path}: {(error.strerror or str(error)).lower()}") from None
    if magic not in _GGUF_MAGICS:
        raise ApiError(400, NOT_GGUF)
    try:
        metadata, parameters = catalog.read_gguf(path, digest)
    except GGUFFormatError as error:
        raise ApiError(500, str(error)) from None
    if media_type is None:
        media_type = PROJECTOR if _is_projector(metadata) else MODEL
        if metadata.get("general.type") == "adapter":
            media_type = ADAPTER
    layer = existing_layer(state.store, digest, media_type, source)
    layer.gguf, layer.parameters = metadata, parameters
    layer.uploaded = True
    return layer


def _is_projector(metadata: Mapping[str, Any]) -> bool:
    """``isProjectorGGUF``."""
    if metadata.get("general.type") in ("projector", "mmproj"):
        return True
    arch = str(metadata.get("general.architecture", ""))
    if not metadata.get(f"{arch}.block_count") and metadata.get(f"{arch}.vision.block_count"):
        return True
    encoder = metadata.get(f"{arch}.has_vision_encoder") or metadata.get(f"{arch}.has_audio_encoder")
    return arch == "clip" and not metadata.get(f"{arch}.block_count") and bool(encoder)


def layers_from_files(
    state: EmulatorState, files: Mapping[str, str], *, adapter: bool = False, media_type: str | None = None
) -> Iterator[dict[str, Any] | BuildLayer]:
    """``parsing GGUF`` then the layer, per file in sorted path order; the type is decided first."""
    kind = _detect_type(state, files)
    if kind == "safetensors":
        raise ApiError(
            500, "converting safetensors models is not supported by the emulator; upload a GGUF file"
        )
    if kind != "gguf":
        raise ApiError(400, UNKNOWN_TYPE)
    if adapter and len(files) > 1:
        raise ApiError(400, ONE_ADAPTER)
    for path in sorted(files):
        yield {"status": "parsing GGUF"}
        yield gguf_layer(state, path, files[path], ADAPTER if adapter else media_type)


async def layers_from_model(
    state: EmulatorState, name: ModelName, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any] | list[BuildLayer]]:
    """``parseFromModel`` (pulling a missing model first), then the base config's inherited fields.

    Yields pull progress, then (last) the base model's layers."""
    path = state.store.find_manifest(name)
    if path is None:
        async for event in pull_model(state, name, insecure=False):
            yield event
        path = state.store.find_manifest(name)
        if path is None:
            raise ApiError(500, "open manifest: no such file or directory")
    try:
        manifest = Manifest.parse(path.read_bytes())
    except (OSError, InvalidManifestError, InvalidDigestError) as error:
        raise ApiError(500, str(error)) from None
    source = name.display_shortest()
    layers = []
    for blob in manifest.layers:
        if blob.media_type in GGUF_KINDS:
            layer = gguf_layer(state, source, blob.digest, blob.media_type)
            layer.uploaded = False
            layers.append(layer)
        else:
            layers.append(existing_layer(state.store, blob.digest, blob.media_type, source))
    try:
        base = json.loads(state.store.blob_path(manifest.config.digest).read_bytes())
    except (OSError, ValueError):
        base = None
    if isinstance(base, dict):
        for key in ("renderer", "parser", "requires", "model_format", "capabilities"):
            if not config.get(key) and base.get(key):
                config[key] = base[key]
    yield layers


def from_reference(text: str) -> tuple[ModelName, str, str]:
    """``parseAndValidateModelRef`` for ``from``: (name, base text, source); 400 if not a model name."""
    try:
        ref = parse_model_ref(text)
        return ModelName.parse(ref.base), ref.base, ref.source
    except (ModelRequiredError, InvalidModelNameError, ApiError):
        raise ApiError(400, INVALID_MODEL_NAME) from None


def remote_url(raw: str) -> str:
    """``remoteURL``: a host, URL or path made into ``scheme://host:port[/path]`` (port 11434 if absent)."""
    if raw.startswith("/"):
        return f"http://localhost:11434{_clean_path(raw)}"
    if "://" not in raw:
        raw = "http://" + raw
    if raw == "http://ollama.com":
        return CLOUD_BASE_URL
    try:
        parts = urlsplit(raw)
        host, port = parts.hostname or "localhost", parts.port
    except ValueError:
        raise ApiError(400, "bad remote") from None
    if ":" in host:
        host = f"[{host}]"
    path = _clean_path(parts.path) if parts.path else ""
    return urlunsplit((parts.scheme, f"{host}:{port or 11434}", "" if path == "/" else path, parts.query, ""))


def _clean_path(path: str) -> str:
    """Go's ``path.Clean`` for a rooted path."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)
