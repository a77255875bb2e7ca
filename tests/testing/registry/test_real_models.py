"""The real model the registry emulator serves (smollm2:135m) and a pull of it with the official client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ollama
import pytest

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import file_digest
from airflow_provider_ollama.testing.emulator.catalog import load_model
from airflow_provider_ollama.testing.emulator.llama import choose_engine, model_spec
from airflow_provider_ollama.testing.emulator.llama.weights import LLAMA
from airflow_provider_ollama.testing.registry import RegistryEmulator
from airflow_provider_ollama.testing.registry.catalogue import default_catalogue, smollm2_spec
from airflow_provider_ollama.testing.registry.real_models import (
    SMOLLM2_PARAMS,
    SMOLLM2_SYSTEM,
    SMOLLM2_TEMPLATE,
    ModelWeights,
)
from tests.testing.llama.support import smollm2_path


@pytest.fixture(scope="module")
def weights() -> ModelWeights:
    smollm2_path()  # fails naming the extra when it is missing
    spec = smollm2_spec()
    assert spec.weights is not None
    return spec.weights


def _sha256(path: Path) -> str:
    return file_digest(path)[0]


def test_the_default_catalogue_serves_smollm2_with_the_librarys_layers(weights: ModelWeights) -> None:
    model = default_catalogue().model("library/smollm2", "135m")
    assert model is not None

    layers = [(layer.media_type.rsplit(".", 1)[-1], layer.size) for layer in model.manifest.layers]
    assert [kind for kind, _ in layers] == ["model", "template", "system", "license", "params"]
    assert layers[0][1] == weights.size == 98_362_432
    config = json.loads(b"".join(model.blobs[model.manifest.config.digest].iter_bytes()))
    assert {key: config[key] for key in ("model_format", "model_family", "model_type", "file_type")} == {
        "model_format": "gguf",
        "model_family": "llama",
        "model_type": "134.52M",  # format.HumanNumber: two decimals below a billion
        "file_type": "Q4_1",
    }


def test_the_model_layer_digest_is_the_files_sha256(weights: ModelWeights) -> None:
    assert weights.digest == _sha256(weights.path)


def test_pulling_smollm2_with_the_official_client_stores_the_real_weights(
    ollama_emulator_factory: Callable[..., Any], ollama_registry: RegistryEmulator, weights: ModelWeights
) -> None:
    server = ollama_emulator_factory(registry_url=ollama_registry.url)
    client = ollama.Client(host=server.url, timeout=120)

    statuses = [progress.status for progress in client.pull("smollm2:135m", stream=True)]
    shown = client.show("smollm2:135m")

    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    assert shown.details is not None
    assert shown.details.family == "llama"
    assert shown.details.quantization_level == "Q4_1"
    assert shown.template == SMOLLM2_TEMPLATE
    assert f"SYSTEM {SMOLLM2_SYSTEM}" in (shown.modelfile or "")
    assert "Apache License" in (shown.license or "")
    stored = server.store.blob_path(weights.digest)
    assert stored.stat().st_size == weights.size
    assert _sha256(stored) == weights.digest


def test_a_pulled_smollm2_goes_to_the_llama_cpp_engine(
    ollama_emulator_factory: Callable[..., Any], ollama_registry: RegistryEmulator, weights: ModelWeights
) -> None:
    server = ollama_emulator_factory(registry_url=ollama_registry.url)
    ollama.Client(host=server.url, timeout=120).pull("smollm2:135m")
    model = load_model(server.store, ModelName.parse("smollm2:135m"))
    assert model is not None

    spec = model_spec(model, server.store)

    assert spec is not None
    assert (spec.template, spec.system, spec.parameters) == (SMOLLM2_TEMPLATE, SMOLLM2_SYSTEM, SMOLLM2_PARAMS)
    assert not spec.embedding
    assert choose_engine(spec.path, str(model.name)).engine == LLAMA
