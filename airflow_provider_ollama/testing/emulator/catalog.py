"""Turn the on-disk store into :class:`LocalModel` records, reading it afresh on every call.

Ollama reads manifests, config blobs and layer contents from disk on each list, show and load, so
files written while the server runs are seen at once and a model whose config blob is missing is
not a model. GGUF headers are cached by digest because blobs are content-addressed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import InvalidDigestError, InvalidManifestError, Manifest, ModelStore
from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.capabilities import (
    ModelTraits,
    list_capabilities,
    model_capabilities,
)
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.gguf import GGUFFormatError, read_gguf_header

#: What a model without a template layer renders with (Ollama's ``template.DefaultTemplate``).
DEFAULT_TEMPLATE = "{{ .Prompt }}"
#: Arrays longer than this are left out of ``model_info`` unless ``verbose`` (Ollama's decode limit).
SHOW_ARRAY_LIMIT = 1024

_TEXT_LAYERS = ("template", "prompt", "system")


class _GGUFCache:
    """Parsed GGUF metadata and parameter counts by blob digest (blobs never change content)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, bool], tuple[dict[str, Any], int]] = {}

    def read(self, path: Path, digest: str, *, verbose: bool = False) -> tuple[dict[str, Any], int]:
        key = (digest, verbose)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None:
            return cached
        header = read_gguf_header(path, max_array_length=None if verbose else SHOW_ARRAY_LIMIT)
        parameters = 0
        for tensor in header.tensors:
            count = 1
            for dimension in tensor.shape:
                count *= dimension
            parameters += count
        entry = (dict(header.metadata), parameters)
        with self._lock:
            self._entries[key] = entry
        return entry


_gguf_cache = _GGUFCache()


def read_gguf(path: Path, digest: str, *, verbose: bool = False) -> tuple[dict[str, Any], int]:
    """``(metadata, parameter count from tensor shapes)`` of a GGUF blob; raises ``GGUFFormatError``."""
    return _gguf_cache.read(path, digest, verbose=verbose)


def model_metadata(path: Path, digest: str, *, verbose: bool = False) -> dict[str, Any]:
    """GGUF metadata as ``/api/show`` reports it: ``general.parameter_count`` counted from the tensors
    (Ollama's decoder overwrites the stored key, ``fs/ggml/gguf.go``), without ``general.name`` and
    ``tokenizer.chat_template``."""
    metadata, parameters = read_gguf(path, digest, verbose=verbose)
    info = dict(metadata)
    info["general.parameter_count"] = parameters
    info.pop("general.name", None)
    info.pop("tokenizer.chat_template", None)
    return {key: _go_number(value) for key, value in info.items()}


def _go_number(value: Any) -> Any:
    # GGUF floats are float32; Go prints them with float32 precision.
    if isinstance(value, float):
        return gojson.shortest_float32(value)
    if isinstance(value, list):
        return [_go_number(item) for item in value]
    return value


def load_model(store: ModelStore, name: ModelName) -> LocalModel | None:
    """The model stored as ``name`` (case-insensitive), or None when it is absent or unusable.

    Unusable means what makes Ollama answer "not found": an unreadable manifest, a missing or
    malformed config blob, or a missing layer blob.
    """
    path = store.find_manifest(name)
    if path is None:
        return None
    relative = path.relative_to(store.manifests_dir).parts
    stored_name = ModelName(*relative[:3], tag=relative[3]) if len(relative) == 4 else name
    try:
        raw = path.read_bytes()
        mtime_ns = path.stat().st_mtime_ns
        return _build(store, stored_name, Manifest.parse(raw), mtime_ns)
    except (OSError, ValueError, InvalidManifestError, InvalidDigestError):
        return None


def parent_model(manifest: Manifest) -> str:
    """The ``from`` recorded on the model layer by ``/api/create`` (empty for pulled models)."""
    try:
        document = json.loads(manifest.raw)
    except ValueError:
        return ""
    for layer in document.get("layers") or []:
        if isinstance(layer, dict) and layer.get("mediaType") == "application/vnd.ollama.image.model":
            return str(layer.get("from") or "")
    return ""


@dataclass(frozen=True)
class ListSummary:
    """What ``/api/tags`` says about one model, read as ``buildModelListSummary`` reads it."""

    name: ModelName
    manifest: Manifest
    config: dict[str, Any]
    mtime_ns: int
    gguf: dict[str, Any]
    parent_model: str
    capabilities: tuple[str, ...]


def list_summaries(store: ModelStore) -> Iterator[ListSummary]:
    """Every listable model. A model is skipped when its config or template cannot be read (as Ollama
    skips it), not when its model blob is missing (Ollama only logs that)."""
    for name, manifest, config, mtime_ns in iter_models(store):
        template: str | None = None
        gguf: dict[str, Any] = {}
        parent = ""
        projectors = 0
        try:
            for layer in manifest.layers:
                if layer.kind in ("template", "prompt"):
                    template = store.blob_path(layer.digest).read_text(encoding="utf-8", errors="replace")
                elif layer.kind == "projector":
                    projectors += 1
                elif layer.kind == "model":
                    parent = parent_model(manifest)
                    try:
                        gguf, _ = read_gguf(store.blob_path(layer.digest), layer.digest)
                    except (OSError, GGUFFormatError):
                        gguf = {}
        except OSError:
            continue
        traits = ModelTraits(
            config=config,
            gguf=gguf,
            go_template=template,
            has_model_layer=manifest.layer("model") is not None,
            projector_count=projectors,
        )
        yield ListSummary(name, manifest, config, mtime_ns, gguf, parent, tuple(list_capabilities(traits)))


def iter_models(store: ModelStore) -> Iterator[tuple[ModelName, Manifest, dict[str, Any], int]]:
    """Every listable model: ``(name, manifest, config, manifest mtime in ns)``.

    Skips, as Ollama's list does, manifests that do not parse and those whose config blob is
    missing or is not JSON. Layer blobs are not checked (Ollama does not check them either).
    """
    for name, path in store.iter_manifests():
        try:
            manifest = Manifest.parse(path.read_bytes())
            config = _read_config(store, manifest)
            mtime_ns = path.stat().st_mtime_ns
        except (OSError, ValueError, InvalidManifestError, InvalidDigestError):
            continue
        yield name, manifest, config, mtime_ns


def _read_config(store: ModelStore, manifest: Manifest) -> dict[str, Any]:
    config = json.loads(store.blob_path(manifest.config.digest).read_bytes())
    if not isinstance(config, dict):
        raise ValueError("config blob is not a JSON object")
    return config


def _build(store: ModelStore, name: ModelName, manifest: Manifest, mtime_ns: int) -> LocalModel:
    config = _read_config(store, manifest)
    template = ""
    system = ""
    licenses: list[str] = []
    parameters: dict[str, Any] = {}
    messages: list[dict[str, Any]] = []
    metadata: dict[str, Any] = {}
    projectors = 0
    has_template = False
    for layer in manifest.layers:
        blob = store.blob_path(layer.digest)
        if layer.kind in _TEXT_LAYERS:
            text = blob.read_text(encoding="utf-8", errors="replace")
            if layer.kind == "system":
                system = text
            else:
                template = text
                has_template = True
        elif layer.kind == "license":
            licenses.append(blob.read_text(encoding="utf-8", errors="replace"))
        elif layer.kind == "params":
            loaded = json.loads(blob.read_bytes())
            parameters = loaded if isinstance(loaded, dict) else {}
        elif layer.kind == "messages":
            loaded = json.loads(blob.read_bytes())
            messages = [m for m in loaded if isinstance(m, dict)] if isinstance(loaded, list) else []
        elif layer.kind == "model":
            if not blob.is_file():
                raise FileNotFoundError(blob)
            try:
                metadata, _ = read_gguf(blob, layer.digest)
            except GGUFFormatError:
                metadata = {}
        elif layer.kind == "projector":
            projectors += 1
    modified = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc).astimezone()
    traits = ModelTraits(
        config=config,
        gguf=metadata,
        go_template=template if has_template else None,
        has_model_layer=manifest.layer("model") is not None,
        projector_count=projectors,
    )
    return LocalModel(
        name=name,
        manifest=manifest,
        config=config,
        modified_at=modified,
        template=template or DEFAULT_TEMPLATE,
        system=system,
        license=tuple(licenses),
        parameters=parameters,
        messages=tuple(messages),
        gguf_metadata=metadata,
        capabilities=tuple(model_capabilities(traits)),
        list_capabilities=tuple(list_capabilities(traits)),
        rendered_chat=traits.rendered_by_ollama(),
        has_template_layer=has_template,
    )
