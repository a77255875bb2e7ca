"""The RegistryEmulator handle: addresses, model names, runtime models and clean stops."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.testing.gguf import GGUFSpec
from airflow_provider_ollama.testing.registry import Catalogue, RegistryEmulator, RegistryModelSpec


def test_url_and_host_name_the_loopback_port(ollama_registry: RegistryEmulator) -> None:
    assert ollama_registry.url == f"http://127.0.0.1:{ollama_registry.port}"
    assert ollama_registry.host == f"127.0.0.1:{ollama_registry.port}"
    assert httpx.get(ollama_registry.url + "/v2/").status_code == 200


@pytest.mark.parametrize(
    ("model", "suffix"),
    [("tiny", "library/tiny:latest"), ("tiny:q8", "library/tiny:q8"), ("team/m:v1", "team/m:v1")],
)
def test_model_name_is_a_pullable_name_on_this_registry(
    ollama_registry: RegistryEmulator, model: str, suffix: str
) -> None:
    name = ollama_registry.model_name(model)

    assert name == f"{ollama_registry.host}/{suffix}"
    assert ModelName.parse(name).host == ollama_registry.host


def test_address_before_start_is_a_clear_error() -> None:
    registry = RegistryEmulator(Catalogue())

    with pytest.raises(RuntimeError, match="not running: call start"):
        _ = registry.url
    registry.stop()


def test_models_lists_the_catalogue(ollama_registry: RegistryEmulator) -> None:
    assert ollama_registry.models == [
        "library/smollm2:135m",  # real weights, served when the real-model extra is installed
        "library/tiny:latest",
        "library/tiny:q8",
        "library/tiny-embed:latest",
        "library/tiny-think:latest",
    ]


def test_a_model_added_while_running_is_served(ollama_registry: RegistryEmulator) -> None:
    spec = RegistryModelSpec(
        repository="team/fresh", tag="v2", gguf=GGUFSpec(size_bytes=100_000, seed="fresh")
    )

    model = ollama_registry.add_model(spec)

    response = httpx.get(f"{ollama_registry.url}/v2/team/fresh/manifests/v2")
    assert response.content == model.manifest.raw


def test_a_model_can_be_added_over_http(ollama_registry: RegistryEmulator) -> None:
    response = httpx.post(
        f"{ollama_registry.url}/_emulator/models",
        json={
            "repository": "library/big",
            "gguf": {"size_bytes": 3 << 20, "seed": "http"},
            "system": "Be brief.",
        },
    )

    assert response.status_code == 201
    assert response.json()["name"] == "library/big:latest"
    assert "library/big:latest" in httpx.get(f"{ollama_registry.url}/_emulator/models").json()["models"]
    model = ollama_registry.catalogue.model("library/big")
    assert model is not None
    assert model.model_digest == response.json()["model_digest"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tag": "x"}, "'repository' (e.g. 'library/big') is required"),
        ({"repository": "big"}, "namespace/model"),
        ({"repository": "a/b", "gguf": {"file_type": "Q9"}}, "unknown GGUF file_type"),
        ({"repository": "a/b", "gguf": {"colour": 1}}, "colour"),
        ({"repository": "a/b", "weights": 1}, "unknown model fields"),
    ],
)
def test_bad_model_over_http_is_400(
    ollama_registry: RegistryEmulator, document: dict[str, object], message: str
) -> None:
    response = httpx.post(f"{ollama_registry.url}/_emulator/models", json=document)

    assert response.status_code == 400
    assert message in response.json()["error"]


def test_stop_removes_its_own_storage_but_keeps_a_given_one(tmp_path: Path) -> None:
    given = tmp_path / "pushed"
    with RegistryEmulator(storage_dir=given) as registry:
        assert httpx.post(f"{registry.url}/v2/team/m/blobs/uploads/").status_code == 202
    assert given.is_dir()

    registry = RegistryEmulator().start()
    own = registry.storage_dir
    registry.stop()
    assert not own.exists()


def test_stop_twice_is_harmless() -> None:
    registry = RegistryEmulator().start()
    registry.stop()
    registry.stop()
