"""``POST /api/create``: build a model from another one (``from``), from uploaded GGUF blobs
(``files``, ``adapters``, ``draft_files``) or as a stub for a remote host.

Layers, status lines, the config blob and the manifest bytes follow Ollama 0.33's ``CreateHandler``
and ``createModel`` (``server/create.go``): reused layers are announced as ``using existing layer``,
new text layers as ``creating new layer``, uploaded models are validated (or quantized) through the
llama-quantize rewrite (:mod:`.quantize`), a missing ``from`` model is pulled first, and creating
the same model twice writes identical bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
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
)
from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.create_layers import (
    DRAFT,
    MODEL,
    from_reference,
    layers_from_files,
    layers_from_model,
    remote_url,
    validate_files,
)
from airflow_provider_ollama.testing.emulator.http import ApiError, ndjson_response, read_json_body
from airflow_provider_ollama.testing.emulator.inference_steps import CLOUD_BASE_URL
from airflow_provider_ollama.testing.emulator.layers import BuildLayer, new_layer
from airflow_provider_ollama.testing.emulator.manifests import encode_manifest
from airflow_provider_ollama.testing.emulator.quantize import (
    COPY,
    QUANTIZABLE,
    parse_file_type,
    rewrite_layer,
)
from airflow_provider_ollama.testing.emulator.state import EmulatorState, parse_model_name
from airflow_provider_ollama.testing.emulator.storage import remove_unreferenced_blobs
from airflow_provider_ollama.testing.emulator.template_check import template_parse_error
from airflow_provider_ollama.testing.gguf import file_type_label, parameter_size_label

_CREATE_FIELDS = {
    "model": "string",
    "name": "string",
    "from": "string",
    "remote_host": "string",
    "files": "map[string]string",
    "draft_files": "map[string]string",
    "adapters": "map[string]string",
    "template": "string",
    "system": "string",
    "license": "interface {}",
    "parameters": "map[string]interface {}",
    "messages": "[]api.Message",
    "quantize": "string",
    "quantization": "string",
    "draft_quantize": "string",
    "renderer": "string",
    "parser": "string",
    "requires": "string",
    "info": "map[string]interface {}",
    "stream": "bool",
    "modelfile": "string",
}
_MAX_INT = (1 << 63) - 1
_ARCH_DEFAULTS = {
    "laguna": ("laguna", "laguna"),
    "nemotron_h": ("nemotron-3-nano", "nemotron-3-nano"),
    "nemotron_h_moe": ("nemotron-3-nano", "nemotron-3-nano"),
    "nemotron_h_omni": ("nemotron-3-nano", "nemotron-3-nano"),
    "gemma4": ("gemma4", "gemma4"),
}


def _check_template(template: str) -> None:
    """``setTemplate``: a template Go cannot parse is a 400 ``template error: ...``."""
    problem = template_parse_error(template)
    if problem:
        raise ApiError(400, f"template error: {problem}")


def _info_string(info: Mapping[str, Any], key: str) -> str:
    value = info.get(key, "")
    if not isinstance(value, str):
        raise ApiError(400, f'info field "{key}" must be a string')
    return value


def _info_int(info: Mapping[str, Any], key: str) -> int:
    value = info.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f'info field "{key}" must be a number')
    if value < 0 or math.trunc(value) != value or value > _MAX_INT:
        raise ApiError(400, f'info field "{key}" must be a non-negative integer')
    return int(value)


def _apply_info(config: dict[str, Any], info: Mapping[str, Any]) -> None:
    """The handler's ``r.Info`` overrides (capabilities added, the rest replaced), checked in Go's order."""
    capabilities = info.get("capabilities")
    if isinstance(capabilities, list):
        extra = [item if isinstance(item, str) else "" for item in capabilities]
        config["capabilities"] = [*(config.get("capabilities") or []), *extra]
    config["model_family"] = _info_string(info, "model_family")
    if config["model_family"]:
        config["model_families"] = [config["model_family"]]
    config["base_name"] = _info_string(info, "base_name")
    config["file_type"] = _info_string(info, "quantization_level")
    config["model_type"] = _info_string(info, "parameter_size")
    config["context_length"] = _info_int(info, "context_length")
    config["embedding_length"] = _info_int(info, "embedding_length")


async def _rewritten(
    state: EmulatorState, layer: BuildLayer, body: Mapping[str, Any]
) -> AsyncIterator[dict[str, Any] | BuildLayer]:
    """``createModel``'s per-layer quantize/validate step; yields progress, then the layer to keep."""
    assert layer.gguf is not None
    quantize = ""
    if layer.media_type == MODEL:
        quantize = str(body.get("quantize") or body.get("quantization") or "").upper()
    elif layer.media_type == DRAFT:
        quantize = str(body.get("draft_quantize") or "").upper()
    current = int(layer.gguf.get("general.file_type", -1))
    if quantize:
        want = parse_file_type(quantize)
        if layer.media_type == DRAFT and file_type_label(current) not in QUANTIZABLE:
            raise ApiError(
                500, f"draft quantization requires an unquantized draft model, got {file_type_label(current)}"
            )
        if file_type_label(current) not in QUANTIZABLE:
            raise ApiError(500, "quantization is only supported for F16, BF16 and F32 models")
        if current != want:
            async for event in rewrite_layer(state, layer, quantize):
                yield event
            return
    if layer.uploaded and layer.media_type == MODEL:
        async for event in rewrite_layer(state, layer, COPY):
            yield event
        return
    yield layer


def _describe(config: dict[str, Any], layer: BuildLayer, body: dict[str, Any]) -> None:
    """``createModel``'s config fields from a GGUF model or draft layer (request values win)."""
    assert layer.gguf is not None
    arch = str(layer.gguf.get("general.architecture", ""))
    if layer.media_type == DRAFT:
        config["draft"] = {"model_format": "gguf", "architecture": arch}
        return
    config["model_format"] = config.get("model_format") or "gguf"
    config["model_family"] = config.get("model_family") or arch
    config["model_type"] = config.get("model_type") or parameter_size_label(layer.parameters)
    config["file_type"] = config.get("file_type") or file_type_label(
        int(layer.gguf.get("general.file_type", -1))
    )
    config["model_families"] = [*(config.get("model_families") or []), arch]
    if arch in _ARCH_DEFAULTS and not (config.get("renderer") and config.get("parser")):
        renderer, parser = _ARCH_DEFAULTS[arch]
        config["renderer"] = config.get("renderer") or renderer
        config["parser"] = config.get("parser") or parser
        if arch == "gemma4":
            body["parameters"] = {"stop": ["<turn|>"], **(body.get("parameters") or {})}


def _replace(layers: list[BuildLayer], media_type: str) -> list[BuildLayer]:
    return [layer for layer in layers if layer.media_type != media_type]


def _licenses(value: Any) -> list[str]:
    """A string, or anything that unmarshals into ``[]string`` (Go's error text otherwise, a 500)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        raise ApiError(
            500, f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type []string"
        )
    for item in value:
        if item is not None and not isinstance(item, str):
            raise ApiError(
                500, f"json: cannot unmarshal {gojson.json_kind(item)} into Go value of type string"
            )
    return [item or "" for item in value]


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


#: ``model.ConfigV2`` fields in Go order, and whether each is ``omitempty``.
_CONFIG_ORDER = (
    ("model_format", False), ("model_family", False), ("model_families", False), ("model_type", False),
    ("file_type", False), ("renderer", True), ("parser", True), ("requires", True), ("remote_host", True),
    ("remote_model", True), ("capabilities", True), ("context_length", True),
    ("embedding_length", True), ("base_name", True), ("draft", True),
)  # fmt: skip


def _config_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """``model.ConfigV2`` as Go encodes it (a nil ``model_families`` is ``null``)."""
    document: dict[str, Any] = {}
    for key, omitempty in _CONFIG_ORDER:
        value = config.get(key)
        if value or not omitempty:
            document[key] = value or (None if key == "model_families" else "")
    document.update({"architecture": "amd64", "os": "linux"})
    return document


async def _base_layers(
    state: EmulatorState, body: Mapping[str, Any], config: dict[str, Any]
) -> AsyncIterator[dict[str, Any] | list[BuildLayer]]:
    """The handler's ``from``/``files`` branch: progress events, then (last) the base layers."""
    if body.get("from"):
        name, base, source = from_reference(str(body["from"]))
        remote_host = str(body.get("remote_host") or "")
        if source == "cloud" and not remote_host:
            remote_host = CLOUD_BASE_URL
        if remote_host:
            config["remote_model"], config["remote_host"] = base, remote_url(remote_host)
            yield []
            return
        async for item in layers_from_model(state, name, config):
            yield item
    elif body.get("files") is not None:
        layers = []
        for file_item in layers_from_files(state, body["files"]):
            if isinstance(file_item, BuildLayer):
                layers.append(file_item)
            else:
                yield file_item
        yield layers
    else:
        raise ApiError(400, "neither 'from' or 'files' was specified")


def _extra_layers(
    state: EmulatorState, files: Mapping[str, str], **kind: Any
) -> tuple[list[dict[str, Any]], list[BuildLayer]]:
    """Adapters or draft files: every failure is a 400, as the handler reports them."""
    events: list[dict[str, Any]] = []
    layers: list[BuildLayer] = []
    try:
        for item in layers_from_files(state, files, **kind):
            (layers if isinstance(item, BuildLayer) else events).append(item)  # type: ignore[arg-type]
    except ApiError as error:
        raise ApiError(400, error.message) from None
    return events, layers


async def create_model(
    state: EmulatorState, name: ModelName, body: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Ollama's create pipeline as progress events; raises ``ApiError`` with Ollama's status."""
    state.stats.add("creates")
    config: dict[str, Any] = {key: body[key] for key in ("renderer", "parser", "requires") if body.get(key)}
    old_blobs = _old_blobs(state, name)
    layers: list[BuildLayer] = []
    async for base_item in _base_layers(state, body, config):
        if isinstance(base_item, list):
            layers = base_item
        else:
            yield base_item
    remote = bool(config.get("remote_host"))
    if remote and body.get("draft_files"):
        raise ApiError(400, "DRAFT cannot be used with remote models")
    extras: list[BuildLayer] = []
    for key, kind in (("draft_files", {"media_type": DRAFT}), ("adapters", {"adapter": True})):
        if not remote and body.get(key) is not None:
            events, found = _extra_layers(state, body[key], **kind)
            for event in events:
                yield event
            extras = found + extras
    layers += extras
    if body.get("info") is not None:
        _apply_info(config, body["info"])
    built: list[BuildLayer] = []
    for layer in layers:
        if layer.gguf is not None:
            async for item in _rewritten(state, layer, body):
                if isinstance(item, BuildLayer):
                    layer = item
                else:
                    yield item
            if layer.media_type in (MODEL, DRAFT):
                _describe(config, layer, body)
        built.append(layer)
    built = _apply_request(state, built, body)
    config_blob = gojson.dumps_line(_config_document(config))
    config_layer = new_layer(state.store, config_blob, CONFIG_MEDIA_TYPE)
    for layer in built:
        yield {"status": layer.status}
    yield {"status": "writing manifest"}
    manifest = encode_manifest(
        {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_layer.digest, "size": config_layer.size},
        [layer.document() for layer in built] or None,  # Go's nil slice: ``"layers":null``
    )
    atomic_write(state.store.manifests_dir.joinpath(*name.manifest_path.parts), manifest + b"\n")
    if old_blobs and not state.settings.noprune:
        remove_unreferenced_blobs(state.store, old_blobs)
    yield {"status": "success"}


def _old_blobs(state: EmulatorState, name: ModelName) -> list[str]:
    old_path = state.store.find_manifest(name)
    if old_path is None:
        return []
    try:
        return [blob.digest for blob in Manifest.parse(old_path.read_bytes()).blobs]
    except (OSError, InvalidManifestError, InvalidDigestError):
        return []


async def create(request: Request) -> Response:
    """``POST /api/create``."""
    state: EmulatorState = request.app.state.emulator
    body = await read_json_body(request, fields=_CREATE_FIELDS, struct="CreateRequest")
    validate_files(body.get("files"), paths=True)
    validate_files(body.get("draft_files"), paths=True)
    if body.get("draft_quantize") and not body.get("draft_files"):
        raise ApiError(400, "--draft-quantize requires a DRAFT model")
    validate_files(body.get("adapters"), paths=False)
    name = state.existing_name(parse_model_name(str(body.get("model") or body.get("name") or "")))
    return await ndjson_response(create_model(state, name, body), stream=body.get("stream") is not False)


def routes() -> list[BaseRoute]:
    return [Route("/api/create", create, methods=["POST"])]
