"""The registry emulator counts requests by kind and blob bytes by digest, so tests can prove transfers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_ollama.testing.registry import RegistryEmulator

TINY = "/v2/library/tiny"


@pytest.fixture
def client(ollama_registry: RegistryEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_registry.url, timeout=10) as http:
        yield http


def _model_layer(registry: RegistryEmulator) -> tuple[str, int]:
    model = registry.catalogue.model("library/tiny")
    assert model is not None
    layer = model.manifest.layer("model")
    assert layer is not None
    return layer.digest, layer.size


def test_a_fresh_emulator_has_counted_nothing(ollama_registry: RegistryEmulator) -> None:
    stats = ollama_registry.stats

    assert stats.total_requests == 0
    assert stats.blob_bytes_served == 0
    assert stats.requests == dict.fromkeys(
        ("manifest", "manifest_put", "blob_head", "blob_get", "cdn_get", "upload"), 0
    )


def test_requests_are_counted_by_kind(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    digest, _ = _model_layer(ollama_registry)

    client.get(f"{TINY}/manifests/latest")
    client.head(f"{TINY}/blobs/{digest}")
    client.get(f"{TINY}/blobs/{digest}", follow_redirects=True)
    client.post("/v2/team/m/blobs/uploads/")

    assert ollama_registry.stats.requests == {
        "manifest": 1,
        "manifest_put": 0,
        "blob_head": 1,
        "blob_get": 1,
        "cdn_get": 1,
        "upload": 1,
    }


def test_blob_bytes_are_counted_per_digest(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    digest, size = _model_layer(ollama_registry)
    url = f"{ollama_registry.url}/_cdn/blobs/{digest}"

    client.get(url)
    client.get(url, headers={"Range": "bytes=0-99"})

    stats = ollama_registry.stats
    assert stats.blob_bytes_by_digest == {digest: size + 100}
    assert stats.blob_bytes_served == size + 100
    assert stats.blob_requests_by_digest == {digest: 2}


def test_reading_manifests_downloads_zero_blob_bytes(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    client.get(f"{TINY}/manifests/latest")
    client.get(f"{TINY}/manifests/q8")

    assert ollama_registry.stats.blob_bytes_served == 0
    assert ollama_registry.stats.bytes_served["manifest"] > 0


def test_reset_zeroes_the_counters(client: httpx.Client, ollama_registry: RegistryEmulator) -> None:
    client.get(f"{TINY}/manifests/latest")

    ollama_registry.reset()

    assert ollama_registry.stats.total_requests == 0


def test_stats_over_http_match_the_python_api(
    client: httpx.Client, ollama_registry: RegistryEmulator
) -> None:
    digest, _ = _model_layer(ollama_registry)
    client.get(f"{TINY}/blobs/{digest}", follow_redirects=True)

    over_http = client.get("/_emulator/stats").json()

    assert over_http == ollama_registry.stats.to_json()
    assert over_http["blob_bytes_by_digest"][digest] > 0
