"""Manifest bytes exactly as Ollama writes them: Go's encoding of its ``Manifest`` struct.

Pull stores the registry's manifest re-encoded through that struct and create encodes a new one,
so identical content always gives identical bytes and therefore the same model digest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE
from airflow_provider_ollama.testing.emulator import gojson


def layer_document(layer: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest.Layer`` in field order: mediaType, digest, size, then ``from``/``name`` if set."""
    document: dict[str, Any] = {
        "mediaType": str(layer.get("mediaType") or ""),
        "digest": str(layer.get("digest") or ""),
        "size": int(layer.get("size") or 0),
    }
    for optional in ("from", "name"):
        if layer.get(optional):
            document[optional] = str(layer[optional])
    return document


def encode_manifest(
    config: Mapping[str, Any],
    layers: Sequence[Mapping[str, Any]] | None,
    *,
    schema_version: int = 2,
    media_type: str = MANIFEST_MEDIA_TYPE,
) -> bytes:
    """The bytes Ollama writes for a manifest with this config descriptor and these layers."""
    return gojson.dumps(
        {
            "schemaVersion": schema_version,
            "mediaType": media_type,
            "config": layer_document(config),
            "layers": None if layers is None else [layer_document(layer) for layer in layers],
        }
    )


def reencode(raw: bytes) -> bytes:
    """A registry's manifest passed through Ollama's struct (unknown fields dropped, Go layout)."""
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("manifest is not a JSON object")
    layers = document.get("layers")
    return encode_manifest(
        document.get("config") or {},
        layers if isinstance(layers, list) else None,
        schema_version=int(document.get("schemaVersion") or 0),
        media_type=str(document.get("mediaType") or ""),
    )
