"""POST /api/push to the registry emulator: the upload protocol, progress lines and failures."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import ollama
import pytest

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry import RegistryEmulator
from tests.testing.emulator.conftest import FAST_TRANSFERS
from tests.testing.emulator.openapi import validate_stream
from tests.testing.emulator.support import JSON_PLAIN, assert_error, assert_stream_error, ndjson_lines


def _push(server: OllamaEmulator, body: dict[str, object]) -> httpx.Response:
    return httpx.post(server.url + "/api/push", json=body, timeout=60)


def test_push_uploads_a_created_model_with_ollamas_lines(
    client: ollama.Client, server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    target = f"{registry.host}/team/mario:v1"
    client.create(target, from_="tiny", system="You are Mario.")
    lines = ndjson_lines(_push(server, {"model": target, "insecure": True}))
    validate_stream("push", lines)
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "retrieving manifest"
    assert statuses[-2:] == ["pushing manifest", "success"]
    pushing = [line for line in lines if line["status"].startswith("pushing ") and "digest" in line]
    assert all(line["status"] == f"pushing {line['digest'][7:19]}" for line in pushing)
    assert "team/mario:v1" in registry.models


def test_pushed_model_pulls_back_with_the_same_layers(
    client: ollama.Client, server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    target = f"{registry.host}/team/mario:v1"
    client.create(target, from_="tiny", system="Round trip.")
    path = server.store.find_manifest(ModelName.parse(target))
    assert path is not None
    created = json.loads(path.read_bytes())
    assert client.push(target, insecure=True).status == "success"
    client.delete(target)
    client.pull(target, insecure=True)
    path = server.store.find_manifest(ModelName.parse(target))
    assert path is not None
    assert json.loads(path.read_bytes()) == created
    assert httpx.post(server.url + "/api/show", json={"model": target}).json()["system"] == "Round trip."


def test_blobs_the_registry_has_are_not_uploaded_again(
    client: ollama.Client, registry: RegistryEmulator
) -> None:
    target = f"{registry.host}/library/tiny-copy:latest"
    client.pull("tiny")
    client.copy("tiny", target)
    received_before = registry.stats.bytes_received
    assert client.push(target, insecure=True).status == "success"
    assert registry.stats.bytes_received == received_before, "every blob of tiny is already in the registry"


def test_plain_http_registry_needs_insecure(
    client: ollama.Client, server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    target = f"http://{registry.host}/team/mario:v1"
    client.create(f"{registry.host}/team/mario:v1", from_="tiny")
    lines = assert_stream_error(_push(server, {"model": target}), "insecure protocol http")
    assert lines == [{"status": "retrieving manifest"}]


def test_push_of_a_missing_model_fails_after_retrieving(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    response = _push(server, {"model": f"{registry.host}/team/none:v1", "insecure": True, "stream": False})
    assert response.status_code == 500
    assert response.headers["content-type"] == JSON_PLAIN
    assert response.json()["error"].endswith("no such file or directory")


def test_push_without_a_model_is_400(server: OllamaEmulator) -> None:
    assert_error(_push(server, {}), 400, "model is required")


def test_registry_errors_reach_the_client(client: ollama.Client, registry: RegistryEmulator) -> None:
    target = f"{registry.host}/team/mario:v1"
    client.create(target, from_="tiny", system="x")
    registry.faults.error(500, kinds="manifest_put")
    with pytest.raises(ollama.ResponseError) as caught:
        client.push(target, insecure=True)
    assert caught.value.status_code == 500
    assert caught.value.error.startswith("500: ")


def test_push_to_a_registry_wanting_tokens_signs_for_one(
    ollama_emulator_factory: Callable[..., OllamaEmulator],
) -> None:
    with RegistryEmulator(require_auth=True) as private:
        emulator = ollama_emulator_factory(pull_time_scale=FAST_TRANSFERS)
        with ollama.Client(host=emulator.url, timeout=60) as client:
            client.pull(private.model_name("tiny"), insecure=True)
            target = f"{private.host}/team/mario:v1"
            client.create(target, from_=private.model_name("tiny"), system="You are Mario.")
            assert client.push(target, insecure=True).status == "success"
    assert "team/mario:v1" in private.models
    assert private.stats.requests["upload"] >= 2, "the new system layer went up (POST, PATCH, PUT)"
