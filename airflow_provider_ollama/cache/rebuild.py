"""Restore a cached model into a server reachable only over HTTP: upload its weights, rebuild it with /api/create.

A shared server has its own disk, so the blobs the server lacks go from S3 to ``POST /api/blobs`` (the
server hashes them too) and the model is assembled from the cached layers: GGUF files by digest, text and
JSON layers by content, and ``renderer``/``parser``/``requires`` from the cached config blob. What differs
from a registry pull: the server writes a new config blob and manifest, so the model's digest is not the
registry's; params and messages layers are re-encoded by the server (same content, perhaps other bytes).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_ollama.cache.objects import CacheObjects
from airflow_provider_ollama.cache.progress import TransferProgress
from airflow_provider_ollama.cache.reports import RestoreReport
from airflow_provider_ollama.cache.streams import VerifiedStream
from airflow_provider_ollama.exceptions import (
    OllamaBadRequestError,
    OllamaCacheError,
    OllamaCacheIntegrityError,
    OllamaModelNotFoundError,
)
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Descriptor, Manifest, sha256_digest

if TYPE_CHECKING:
    from airflow_provider_ollama.hooks.ollama import OllamaHook

log = logging.getLogger(__name__)

#: GGUF layers: uploaded as blobs and named in ``files`` (the server tells weights from a projector by
#: the GGUF's own metadata, as for any create) or ``adapters``.
_WEIGHT_KINDS = ("model", "projector", "adapter")
#: Layers whose content goes into the create request: text ones, and JSON ones.
_TEXT_KINDS = ("template", "prompt", "system", "license")
_JSON_KINDS = ("params", "messages")
#: Config fields the create request can carry (the client has no argument for them: raw fields).
_CONFIG_FIELDS = ("renderer", "parser", "requires")
#: A text or JSON layer is read into memory; anything larger is not what those layers hold.
_MAX_SMALL_LAYER = 32 << 20


def rebuild_on_server(
    objects: CacheObjects, hook: OllamaHook, model: ModelName, manifest: Manifest, report: RestoreReport
) -> None:
    """Upload what the server lacks and create ``model`` from ``manifest``'s layers; check it with show."""
    name = _request_name(model)
    unsupported = sorted(
        {layer.kind for layer in manifest.layers} - {*_WEIGHT_KINDS, *_TEXT_KINDS, *_JSON_KINDS}
    )
    if unsupported:
        raise OllamaCacheError(
            f"{name} has {', '.join(unsupported)} layers, which /api/create cannot rebuild from blobs; "
            "the server has to pull it"
        )
    weights = [layer for layer in manifest.layers if layer.kind in _WEIGHT_KINDS]
    missing = [blob for blob in _distinct(weights) if not hook.blob_exists(blob.digest)]
    small = _distinct([layer for layer in manifest.layers if layer.kind not in _WEIGHT_KINDS])
    objects.check_cached_blobs([*missing, *small, manifest.config])
    report.blobs_already_local = len(_distinct(weights)) - len(missing)
    for blob in missing:
        _upload(objects, hook, blob)
        report.blobs_downloaded += 1
        report.bytes_downloaded += blob.size
    contents = {blob.digest: _read_small(objects, blob) for blob in [*small, manifest.config]}
    report.blobs_downloaded += len(contents)
    report.bytes_downloaded += sum(len(data) for data in contents.values())
    request = _create_request(manifest, contents)
    try:
        hook.create(name, **request)
        hook.show(name)
    except (OllamaBadRequestError, OllamaModelNotFoundError) as error:
        raise OllamaCacheError(
            f"the server could not rebuild {name} from the cached layers: {error}"
        ) from error
    log.info(
        "Rebuilt %s on %s from the cache's layers (%s); its digest there is the server's own, not the "
        "registry's",
        name,
        hook.base_url,
        ", ".join(layer.kind for layer in manifest.layers),
    )


def _upload(objects: CacheObjects, hook: OllamaHook, blob: Descriptor) -> None:
    """Stream one blob from S3 into the server's blob store, checked on the way (the server checks too)."""
    source = objects.blob_url(blob.digest)
    progress = TransferProgress(
        log, "uploading", f"{blob.kind} blob {blob.digest[:19]} to the server", blob.size
    )
    stream = VerifiedStream(
        objects.bucket.iter_object(objects.location.blob_key(blob.digest)),
        blob,
        source=source,
        on_mismatch=lambda: objects.mark_corrupt(blob.digest),
        progress=progress,
    )
    try:
        hook.upload_blob_stream(blob.digest, stream, size=blob.size)
    except OllamaBadRequestError as error:
        # The server refused the bytes (digest mismatch): S3's copy is bad even though it passed here.
        objects.mark_corrupt(blob.digest)
        raise OllamaCacheIntegrityError(
            f"the server refused {blob.kind} blob {source}: {error}; it was not installed"
        ) from error


def _read_small(objects: CacheObjects, blob: Descriptor) -> bytes:
    source = objects.blob_url(blob.digest)
    if blob.size > _MAX_SMALL_LAYER:
        raise OllamaCacheIntegrityError(
            f"{blob.kind} blob {source} is {blob.size} bytes, too big for its kind"
        )
    data = objects.bucket.get_bytes(objects.location.blob_key(blob.digest)) or b""
    if len(data) != blob.size or sha256_digest(data) != blob.digest:
        objects.mark_corrupt(blob.digest)
        raise OllamaCacheIntegrityError(
            f"{blob.kind} blob {source} is corrupt or truncated ({len(data)} bytes with "
            f"{sha256_digest(data)}, the manifest says {blob.size} bytes with {blob.digest}); not used"
        )
    return data


def _create_request(manifest: Manifest, contents: dict[str, bytes]) -> dict[str, Any]:
    """The /api/create arguments (``OllamaHook.create``'s) that rebuild ``manifest``'s model."""
    files: dict[str, str] = {}
    adapters: dict[str, str] = {}
    licenses: list[str] = []
    request: dict[str, Any] = {}
    for index, layer in enumerate(manifest.layers):
        if layer.kind == "adapter":
            adapters[f"adapter-{index}.gguf"] = layer.digest
        elif layer.kind in ("model", "projector"):
            files[f"{layer.kind}-{index}.gguf"] = layer.digest
        elif layer.kind == "license":
            licenses.append(_text(layer, contents))
        elif layer.kind in ("template", "prompt"):
            request["template"] = _text(layer, contents)
        elif layer.kind == "system":
            request["system"] = _text(layer, contents)
        elif layer.kind == "params":
            request["parameters"] = _json(layer, contents, dict)
        elif layer.kind == "messages":
            request["messages"] = _json(layer, contents, list)
    if not files:
        raise OllamaCacheError("the cached model has no model layer to rebuild it from")
    request["files"] = files
    if adapters:
        request["adapters"] = adapters
    if licenses:
        request["license"] = licenses
    config = _json(manifest.config, contents, dict)
    request.update({key: config[key] for key in _CONFIG_FIELDS if config.get(key)})
    return request


def _text(layer: Descriptor, contents: dict[str, bytes]) -> str:
    try:
        return contents[layer.digest].decode()
    except UnicodeDecodeError as error:
        raise OllamaCacheError(f"the cached {layer.kind} layer {layer.digest} is not UTF-8 text") from error


def _json(layer: Descriptor, contents: dict[str, bytes], kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    try:
        value = json.loads(contents[layer.digest])
    except ValueError as error:
        raise OllamaCacheError(
            f"the cached {layer.kind} layer {layer.digest} is not JSON ({error})"
        ) from error
    if not isinstance(value, kind):
        raise OllamaCacheError(f"the cached {layer.kind} layer {layer.digest} is not a JSON {kind.__name__}")
    return value


def _distinct(blobs: list[Descriptor]) -> list[Descriptor]:
    return list({blob.digest: blob for blob in blobs}.values())


def _request_name(model: ModelName) -> str:
    """The name to create: as Ollama lists it (the registry host only when it is not the default)."""
    return model.display_shortest()
