"""Models written straight into a local Ollama store, the way a finished pull leaves them.

Importable by spawned worker processes (the concurrency tests), so it holds plain functions only.
"""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import (
    CONFIG_MEDIA_TYPE,
    LAYER_MEDIA_TYPE_PREFIX,
    MANIFEST_MEDIA_TYPE,
    Manifest,
    ModelStore,
    atomic_write,
    sha256_digest,
)

TEMPLATE = b"{{ .System }}\n{{ .Prompt }}"
PARAMS = b'{"stop":["<|end|>"],"temperature":0.2}'


def weights(size: int, seed: int = 0) -> bytes:
    """Deterministic filler bytes standing in for GGUF weights (the cache never looks inside)."""
    block = bytes((seed * 131 + i * 7) % 251 for i in range(4096))
    return (b"GGUF" + block * (size // len(block) + 1))[:size]


def write_model(store: ModelStore, name: str, model_bytes: bytes, *, template: bytes = TEMPLATE) -> Manifest:
    """Write blobs, a config blob and the manifest (compact JSON, as the registry sends it)."""
    layers = [("model", model_bytes), ("template", template), ("params", PARAMS)]
    config = json.dumps({"model_format": "gguf", "model_family": "llama", "file_type": "Q4_K_M"}).encode()
    descriptors = []
    for kind, data in layers:
        descriptors.append(_write_blob(store, f"{LAYER_MEDIA_TYPE_PREFIX}{kind}", data))
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": _write_blob(store, CONFIG_MEDIA_TYPE, config),
        "layers": descriptors,
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    store.write_manifest(ModelName.parse(name), raw)
    return Manifest.parse(raw)


def _write_blob(store: ModelStore, media_type: str, data: bytes) -> dict[str, object]:
    digest = sha256_digest(data)
    atomic_write(store.blob_path(digest), data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def store_files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative path -> bytes), for byte-for-byte comparisons."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def stray_temp_files(root: Path) -> list[Path]:
    """Files a restore may only have while it runs: dot-prefixed temps."""
    return [path for path in root.rglob(".*") if path.is_file()]
