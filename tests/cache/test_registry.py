"""RegistryReader against the registry emulator: manifests, redirected blob reads, clear errors."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.cache.registry import RegistryReader, RegistryReadError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.registries import ENVIRONMENT_VARIABLE
from airflow_provider_ollama.store import sha256_digest
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.ports import unused_port


def reader(registry: RegistryEmulator, model: str = "tiny") -> RegistryReader:
    return RegistryReader(ModelName.parse(registry.model_name(model)), insecure=True)


def test_the_manifest_comes_back_byte_for_byte(ollama_registry: RegistryEmulator) -> None:
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None

    with reader(ollama_registry) as registry:
        assert registry.manifest() == built.manifest.raw


def test_a_blob_is_read_from_where_the_registry_redirects(ollama_registry: RegistryEmulator) -> None:
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    weights = built.manifest.layers[0]

    with reader(ollama_registry) as registry, registry.open_blob(weights.digest) as chunks:
        data = b"".join(chunks)

    assert sha256_digest(data) == weights.digest
    stats = ollama_registry.stats
    assert (stats.requests["blob_get"], stats.requests["cdn_get"]) == (1, 1)


def test_an_unknown_model_says_the_registry_has_no_such_model(ollama_registry: RegistryEmulator) -> None:
    with (
        reader(ollama_registry, "nothing-here") as registry,
        pytest.raises(RegistryReadError, match="has no"),
    ):
        registry.manifest()


def test_a_registry_that_wants_credentials_is_named(ollama_registry: RegistryEmulator) -> None:
    ollama_registry.faults.unauthorized(kinds="manifest")

    with reader(ollama_registry) as registry, pytest.raises(RegistryReadError, match="without credentials"):
        registry.manifest()


def test_an_unreachable_registry_is_a_read_error_naming_it() -> None:
    name = ModelName.parse(f"127.0.0.1:{unused_port()}/library/tiny")

    with (
        RegistryReader(name, insecure=True) as registry,
        pytest.raises(RegistryReadError, match="ConnectError"),
    ):
        registry.manifest()


def test_insecure_reads_plain_http_and_the_default_is_https(monkeypatch: pytest.MonkeyPatch) -> None:
    name = ModelName.parse("registry.example.com/library/tiny")

    assert RegistryReader(name).base_url == "https://registry.example.com"
    assert RegistryReader(name, insecure=True).base_url == "http://registry.example.com"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "registry.example.com")
    assert RegistryReader(name).base_url == "http://registry.example.com"
