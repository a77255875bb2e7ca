"""``POST /api/create``: build a model from another one (``from``) or from uploaded GGUF blobs (``files``).

Layers, status lines, the config blob and the manifest bytes follow Ollama's ``CreateHandler``:
reused layers are announced as ``using existing layer``, new text layers as ``creating new layer``,
a missing ``from`` model is pulled first, and creating the same model twice writes identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import (
    CONFIG_MEDIA_TYPE,
    LAYER_MEDIA_TYPE_PREFIX,
    InvalidDigestError,
    InvalidManifestError,
    Manifest,
    atomic_write,
    is_valid_digest,
)
from airflow_provider_ollama.testing.emulator import catalog, gojson
from airflow_provider_ollama.testing.emulator.http import ApiError, ndjson_response, read_json_body
from airflow_provider_ollama.testing.emulator.layers import BuildLayer, existing_layer, new_layer
from airflow_provider_ollama.testing.emulator.manifests import encode_manifest
from airflow_provider_ollama.testing.emulator.pull import pull_model
from airflow_provider_ollama.testing.emulator.quantize import quantize_layer
from airflow_provider_ollama.testing.emulator.state import INVALID_MODEL_NAME, EmulatorState, parse_model_name
from airflow_provider_ollama.testing.emulator.storage import remove_unreferenced_blobs
from airflow_provider_ollama.testing.emulator.template_check import template_parse_error
from airflow_provider_ollama.testing.gguf import GGUFFormatError, file_type_label, parameter_size_label

NOT_GGUF = "supplied file was not in GGUF format"
_MODEL = LAYER_MEDIA_TYPE_PREFIX + "model"
_ADAPTER = LAYER_MEDIA_TYPE_PREFIX + "adapter"
_PROJECTOR = LAYER_MEDIA_TYPE_PREFIX + "projector"
_GGUF_KINDS = (_MODEL, _ADAPTER, _PROJECTOR)

_CREATE_FIELDS = {
    "model": "string",
    "name": "string",
    "from": "string",
    "files": "map[string]string",
    "adapters": "map[string]string",
    "template": "string",
    "system": "string",
    "license": "interface {}",
    "parameters": "map[string]interface {}",
    "messages": "[]api.Message",
    "quantize": "string",
    "quantization": "string",
    "renderer": "string",
    "parser": "string",
    "requires": "string",
    "stream": "bool",
    "modelfile": "string",
}


def _validate_files(files: Mapping[str, str] | None) -> None:
    for path, digest in (files or {}).items():
        if path in ("", ".") or not _is_valid_relative_path(path):
            raise ApiError(400, "file path must be relative")
        if not digest or not is_valid_digest(digest):
            raise ApiError(400, "invalid digest format")


def _is_valid_relative_path(path: str) -> bool:
    """Go's ``fs.ValidPath``: slash-separated, unrooted, no ``.``/``..``/empty elements."""
    if "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _check_template(template: str) -> None:
    """``setTemplate``: a template Go cannot parse is a 400 ``template error: ...``."""
    problem = template_parse_error(template)
    if problem:
        raise ApiError(400, f"template error: {problem}")


def _gguf_layer(state: EmulatorState, source: str, digest: str, media_type: str | None) -> BuildLayer:
    path = state.store.blob_path(digest)
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ApiError(500, f"open {path}: {(error.strerror or str(error)).lower()}") from None
    if magic not in (b"GGUF", b"FUGG"):
        raise ApiError(400, NOT_GGUF)
    try:
        metadata, parameters = catalog.read_gguf(path, digest)
    except GGUFFormatError as error:
        raise ApiError(400, str(error)) from None
    if media_type is None:
        arch = str(metadata.get("general.architecture", ""))
        kind = str(metadata.get("general.type", ""))
        media_type = _MODEL
        if kind == "adapter":
            media_type = _ADAPTER
        elif kind == "projector" or (
            not metadata.get(f"{arch}.block_count") and metadata.get(f"{arch}.vision.block_count")
        ):
            media_type = _PROJECTOR
    layer = existing_layer(state.store, digest, media_type, source)
    layer.gguf, layer.parameters = metadata, parameters
    return layer


def _file_type(state: EmulatorState, files: Mapping[str, str]) -> str:
    """Ollama's ``detectModelTypeFromFiles``: by extension, else by the GGUF magic of the blob."""
    for path, digest in files.items():
        if path.endswith(".safetensors"):
            return "safetensors"
        if path.endswith(".gguf"):
            return "gguf"
        try:
            with state.store.blob_path(digest).open("rb") as handle:
                if handle.read(4) in (b"GGUF", b"FUGG"):
                    return "gguf"
        except OSError:
            return ""
    return ""


def _layers_from_files(
    state: EmulatorState, files: Mapping[str, str], *, adapter: bool
) -> Iterator[dict[str, Any] | BuildLayer]:
    """``parsing GGUF`` then the layer, per file; the type is decided before anything is said."""
    file_type = _file_type(state, files)
    if file_type == "safetensors":
        raise ApiError(
            500, "converting safetensors models is not supported by the emulator; upload a GGUF file"
        )
    if file_type != "gguf":
        raise ApiError(400, "unknown type")
    if adapter and len(files) > 1:
        raise ApiError(400, "only one adapter is currently supported")
    for path, digest in files.items():
        yield {"status": "parsing GGUF"}
        yield _gguf_layer(state, path, digest, _ADAPTER if adapter else None)


async def _layers_from_model(
    state: EmulatorState, text: str, config: dict[str, Any]
) -> AsyncIterator[dict[str, Any] | list[BuildLayer]]:
    """Yield pull progress if the base model must be pulled, then (last) the base model's layers."""
    try:
        base_name = state.existing_name(ModelName.parse(text))
    except ValueError:
        raise ApiError(400, INVALID_MODEL_NAME) from None
    path = state.store.find_manifest(base_name)
    if path is None:
        async for event in pull_model(state, base_name, insecure=False):
            yield event
        path = state.store.find_manifest(base_name)
        if path is None:
            raise ApiError(500, "open manifest: no such file or directory")
    try:
        manifest = Manifest.parse(path.read_bytes())
        base_config = json.loads(state.store.blob_path(manifest.config.digest).read_bytes())
    except (OSError, ValueError, InvalidManifestError, InvalidDigestError) as error:
        raise ApiError(500, str(error)) from None
    for key in ("renderer", "parser", "requires"):
        if not config.get(key) and isinstance(base_config, dict) and base_config.get(key):
            config[key] = base_config[key]
    source = base_name.display_shortest()
    layers = []
    for blob in manifest.layers:
        if blob.media_type in _GGUF_KINDS:
            layers.append(_gguf_layer(state, source, blob.digest, blob.media_type))
        else:
            layers.append(existing_layer(state.store, blob.digest, blob.media_type, source))
    yield layers


def _replace(layers: list[BuildLayer], media_type: str) -> list[BuildLayer]:
    return [layer for layer in layers if layer.media_type != media_type]


def _licenses(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ApiError(500, "json: cannot unmarshal license into Go value of type []string")


def _message_document(message: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "role": str(message.get("role", "")),
        "content": str(message.get("content", "")),
    }
    for optional in ("thinking", "images", "tool_calls", "tool_name"):
        if message.get(optional):
            document[optional] = message[optional]
    return document


def _apply_request(
    state: EmulatorState, layers: list[BuildLayer], body: Mapping[str, Any]
) -> list[BuildLayer]:
    """Template, system, license, parameters and messages layers, as Ollama's ``createModel``."""
    store = state.store
    if body.get("template"):
        _check_template(str(body["template"]))
        layers = _replace(layers, LAYER_MEDIA_TYPE_PREFIX + "template")
        layers.append(new_layer(store, str(body["template"]).encode(), LAYER_MEDIA_TYPE_PREFIX + "template"))
    if body.get("system"):
        layers = _replace(layers, LAYER_MEDIA_TYPE_PREFIX + "system")
        layers.append(new_layer(store, str(body["system"]).encode(), LAYER_MEDIA_TYPE_PREFIX + "system"))
    for text in _licenses(body.get("license")):
        layers.append(new_layer(store, text.encode(), LAYER_MEDIA_TYPE_PREFIX + "license"))
    parameters = dict(body.get("parameters") or {})
    for layer in layers:
        if layer.media_type == LAYER_MEDIA_TYPE_PREFIX + "params":
            existing = json.loads(store.blob_path(layer.digest).read_bytes())
            for key, value in (existing if isinstance(existing, dict) else {}).items():
                parameters.setdefault(key, value)
    if parameters:
        layers = _replace(layers, LAYER_MEDIA_TYPE_PREFIX + "params")
        data = gojson.dumps_line(gojson.sorted_map(parameters))
        layers.append(new_layer(store, data, LAYER_MEDIA_TYPE_PREFIX + "params"))
    messages = body.get("messages") or []
    if messages:
        layers = _replace(layers, LAYER_MEDIA_TYPE_PREFIX + "messages")
        data = gojson.dumps_line([_message_document(m) for m in messages if isinstance(m, dict)])
        layers.append(new_layer(store, data, LAYER_MEDIA_TYPE_PREFIX + "messages"))
    return layers


def _config_document(config: dict[str, Any], layers: list[BuildLayer]) -> dict[str, Any]:
    """``model.ConfigV2`` filled from the GGUF layers, in Go field order."""
    families: list[str] = []
    for layer in layers:
        if layer.gguf is None or layer.media_type not in (_MODEL, _PROJECTOR):
            continue
        arch = str(layer.gguf.get("general.architecture", ""))
        if layer.media_type == _MODEL:
            config.setdefault("model_format", "gguf")
            config.setdefault("model_family", arch)
            config.setdefault(
                "model_type",
                parameter_size_label(int(layer.gguf.get("general.parameter_count") or layer.parameters)),
            )
            config.setdefault("file_type", file_type_label(int(layer.gguf.get("general.file_type", -1))))
        families.append(arch)
    document: dict[str, Any] = {
        "model_format": config.get("model_format", ""),
        "model_family": config.get("model_family", ""),
        "model_families": families or None,
        "model_type": config.get("model_type", ""),
        "file_type": config.get("file_type", ""),
    }
    for key in ("renderer", "parser", "requires"):
        if config.get(key):
            document[key] = config[key]
    document.update(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        }
    )
    return document


async def create_model(
    state: EmulatorState, name: ModelName, body: Mapping[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Ollama's create pipeline as progress events; raises ``ApiError`` with Ollama's status."""
    state.stats.add("creates")
    config: dict[str, Any] = {key: body[key] for key in ("renderer", "parser", "requires") if body.get(key)}
    old_path = state.store.find_manifest(name)
    old_blobs: list[str] = []
    if old_path is not None:
        try:
            old_blobs = [blob.digest for blob in Manifest.parse(old_path.read_bytes()).blobs]
        except (OSError, InvalidManifestError, InvalidDigestError):
            old_blobs = []
    layers: list[BuildLayer] = []
    if body.get("from"):
        async for base_item in _layers_from_model(state, str(body["from"]), config):
            if isinstance(base_item, list):
                layers = base_item
            else:
                yield base_item
    elif body.get("files"):
        for file_item in _layers_from_files(state, body["files"], adapter=False):
            if isinstance(file_item, BuildLayer):
                layers.append(file_item)
            else:
                yield file_item
    else:
        raise ApiError(400, "neither 'from' or 'files' was specified")
    if body.get("adapters"):
        for adapter_item in _layers_from_files(state, body["adapters"], adapter=True):
            if isinstance(adapter_item, BuildLayer):
                layers.append(adapter_item)
            else:
                yield adapter_item
    quantize = str(body.get("quantize") or body.get("quantization") or "").upper()
    if quantize:
        for index, layer in enumerate(layers):
            if layer.media_type == _MODEL and layer.gguf is not None:
                async for event in quantize_layer(state, layer, quantize):
                    if isinstance(event, dict):
                        yield event
                    else:
                        layers[index] = event
    layers = _apply_request(state, layers, body)
    config_blob = gojson.dumps_line(_config_document(config, layers))
    config_layer = new_layer(state.store, config_blob, CONFIG_MEDIA_TYPE)
    for layer in layers:
        yield {"status": layer.status}
    yield {"status": "writing manifest"}
    manifest = encode_manifest(
        {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_layer.digest, "size": config_layer.size},
        [layer.document() for layer in layers],
    )
    atomic_write(state.store.manifests_dir.joinpath(*name.manifest_path.parts), manifest + b"\n")
    if old_blobs and not state.settings.noprune:
        remove_unreferenced_blobs(state.store, old_blobs)
    yield {"status": "success"}


async def create(request: Request) -> Response:
    """``POST /api/create``."""
    state: EmulatorState = request.app.state.emulator
    body = await read_json_body(request, fields=_CREATE_FIELDS, struct="CreateRequest")
    _validate_files(body.get("files"))
    _validate_files(body.get("adapters"))
    name = state.existing_name(parse_model_name(str(body.get("model") or body.get("name") or "")))
    return await ndjson_response(create_model(state, name, body), stream=body.get("stream") is not False)


def routes() -> list[BaseRoute]:
    return [Route("/api/create", create, methods=["POST"])]
