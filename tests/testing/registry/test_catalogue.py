"""The catalogue builds manifests and config blobs the way Ollama's registry publishes them."""

from __future__ import annotations

import io
import json

import pytest

from airflow_provider_ollama.store import CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Manifest
from airflow_provider_ollama.testing.gguf import GGUFSpec, read_gguf_metadata
from airflow_provider_ollama.testing.registry.blobs import BlobSource, BytesBlob
from airflow_provider_ollama.testing.registry.catalogue import (
    DEFAULT_BIG_SIZE,
    DEFAULT_MODELS,
    Catalogue,
    RegistryModel,
    RegistryModelSpec,
    big_model_spec,
    build_model,
    default_catalogue,
)


def _read(blob: BlobSource) -> bytes:
    return b"".join(blob.iter_bytes())


def _text(model: RegistryModel, kind: str) -> str:
    layer = model.manifest.layer(kind)
    assert layer is not None, kind
    return _read(model.blobs[layer.digest]).decode()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return default_catalogue()


def _model(catalogue: Catalogue, repository: str, tag: str = "latest") -> RegistryModel:
    model = catalogue.model(repository, tag)
    assert model is not None
    return model


def test_default_catalogue_serves_the_documented_models(catalogue: Catalogue) -> None:
    # smollm2:135m is there because the dev install has the real-model extra (test_real_models.py)
    assert catalogue.names == [
        ("library/smollm2", "135m"),
        ("library/tiny", "latest"),
        ("library/tiny", "q8"),
        ("library/tiny-embed", "latest"),
        ("library/tiny-think", "latest"),
    ]


def test_default_models_are_small(catalogue: Catalogue) -> None:
    for spec in DEFAULT_MODELS:
        assert _model(catalogue, spec.repository, spec.tag).manifest.total_size <= (2 << 20) + 4096


def test_manifest_is_compact_docker_v2_json_with_ollama_media_types(catalogue: Catalogue) -> None:
    model = _model(catalogue, "library/tiny")
    document = json.loads(model.manifest.raw)

    assert b" " not in model.manifest.raw.replace(b"application/vnd", b"")  # compact separators
    assert document["schemaVersion"] == 2
    assert document["mediaType"] == MANIFEST_MEDIA_TYPE
    assert document["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in document["layers"]] == [
        "application/vnd.ollama.image.model",
        "application/vnd.ollama.image.template",
        "application/vnd.ollama.image.license",
        "application/vnd.ollama.image.params",
    ]


def test_every_descriptor_matches_its_blob(catalogue: Catalogue) -> None:
    for spec in DEFAULT_MODELS:
        model = _model(catalogue, spec.repository, spec.tag)
        for descriptor in model.manifest.blobs:
            blob = catalogue.blob(descriptor.digest)
            assert blob is not None
            assert blob.size == descriptor.size == len(_read(blob))


def test_config_blob_describes_the_gguf_like_ollamas_registry(catalogue: Catalogue) -> None:
    model = _model(catalogue, "library/tiny")
    config = json.loads(_read(model.blobs[model.manifest.config.digest]))

    assert config == {
        "model_format": "gguf",
        "model_family": "llama",
        "model_families": ["llama"],
        "model_type": "1.20M",
        "file_type": "Q4_K_M",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in model.manifest.layers]},
    }


def test_tiny_template_references_system_and_prompt(catalogue: Catalogue) -> None:
    template = _text(_model(catalogue, "library/tiny"), "template")

    assert "{{ .System }}" in template
    assert "{{ .Prompt }}" in template


def test_q8_tag_shares_template_and_license_but_not_the_model(catalogue: Catalogue) -> None:
    latest, q8 = _model(catalogue, "library/tiny"), _model(catalogue, "library/tiny", "q8")

    for kind in ("template", "license"):
        assert latest.manifest.layer(kind) == q8.manifest.layer(kind)
    assert latest.model_digest != q8.model_digest
    assert q8.manifest.layer("system") is not None
    assert json.loads(_text(q8, "messages"))[0] == {"role": "user", "content": "Who are you?"}


def test_embedding_model_has_pooling_type_and_no_template(catalogue: Catalogue) -> None:
    model = _model(catalogue, "library/tiny-embed")
    gguf = model.blobs[model.model_digest]
    metadata = read_gguf_metadata(io.BytesIO(b"".join(gguf.iter_bytes(0, 64 << 10))))

    assert metadata["general.architecture"] == "bert"
    assert metadata["bert.pooling_type"] == 1
    assert metadata["bert.embedding_length"] == 384
    assert model.manifest.layer("template") is None


def test_thinking_model_template_mentions_thinking(catalogue: Catalogue) -> None:
    assert ".Thinking" in _text(_model(catalogue, "library/tiny-think"), "template")


def test_big_model_spec_has_the_requested_size() -> None:
    assert big_model_spec().gguf.size_bytes == DEFAULT_BIG_SIZE == 256 << 20
    model = build_model(big_model_spec(3 << 20, tag="small"))

    layer = model.manifest.layer("model")
    assert layer is not None
    assert layer.size == 3 << 20
    assert model.spec.repository == "library/big"


def test_lookups_ignore_case(catalogue: Catalogue) -> None:
    assert catalogue.manifest("Library/Tiny", "LATEST") == catalogue.manifest("library/tiny", "latest")


def test_build_is_deterministic() -> None:
    spec = RegistryModelSpec(repository="team/m", gguf=GGUFSpec(seed="det"), system="hi")

    assert build_model(spec).manifest.raw == build_model(spec).manifest.raw


def test_pushed_manifest_needs_its_blobs_first() -> None:
    catalogue = Catalogue()
    model = build_model(RegistryModelSpec(repository="team/m"))

    with pytest.raises(KeyError):
        catalogue.put_manifest("team/m", "latest", model.manifest)
    for blob in model.blobs.values():
        catalogue.add_blob(blob)
    catalogue.put_manifest("team/m", "v1", Manifest.parse(model.manifest.raw))
    assert catalogue.manifest("team/m", "v1") == model.manifest


def test_repository_must_have_namespace_and_model() -> None:
    with pytest.raises(ValueError, match="namespace/model"):
        RegistryModelSpec(repository="tiny")


def test_bytes_blob_iterates_ranges() -> None:
    blob = BytesBlob(b"0123456789")

    assert list(blob.iter_bytes(2, 9, chunk=3)) == [b"234", b"567", b"8"]
