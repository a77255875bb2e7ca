"""POST /api/pull against the registry emulator: progress lines, storage, verification, retries, resume."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest, sha256_digest
from airflow_provider_ollama.testing._serving import BackgroundServer
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry import RegistryEmulator
from airflow_provider_ollama.testing.registry.catalogue import TINY
from tests.support.tls_server import self_signed_tls_server
from tests.testing.emulator.conftest import FAST_TRANSFERS
from tests.testing.emulator.openapi import JSON, validate_response, validate_stream
from tests.testing.emulator.support import JSON_PLAIN, assert_error, assert_stream_error, ndjson_lines


def _pull(server: OllamaEmulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + "/api/pull", json=body, timeout=60)


def _tiny_manifest(registry: RegistryEmulator) -> Manifest:
    return Manifest.parse(httpx.get(f"{registry.url}/v2/library/tiny/manifests/latest").content)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_streamed_pull_reports_ollamas_progress_lines(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    validate_stream("pull", lines)
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-3:] == [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    # A download reports progress every 60 ms while it runs and says nothing when it ends
    # (blobDownload.Wait), so blobs fetched faster than that show no line at all.
    for line in lines[1:-3]:
        assert line["status"] == f"pulling {line['digest'][7:19]}"
        assert line.get("completed") != 0, "completed is omitted while zero (Go's omitempty)"


def test_a_repeated_pull_reports_each_stored_blob_as_complete(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    _pull(server, {"model": "tiny", "stream": False})
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    manifest = _tiny_manifest(registry)
    assert lines[1:-3] == [
        {
            "status": f"pulling {blob.digest[7:19]}",
            "digest": blob.digest,
            "total": blob.size,
            "completed": blob.size,
        }
        for blob in manifest.blobs
    ]
    assert lines[-3:] == [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]


def test_a_slow_download_reports_progress_while_it_runs(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    model_digest = _tiny_manifest(registry).layer("model").digest  # type: ignore[union-attr]
    registry.faults.stall(digest=model_digest, after_bytes=1000, seconds=0.3, times=1)
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    progress = [line for line in lines if line.get("digest") == model_digest]
    assert progress, "a download that takes longer than 60 ms reports progress"
    assert all(line["total"] == 1 << 20 for line in progress)
    assert all(line.get("completed", 0) < line["total"] for line in progress)


def test_non_streaming_pull_answers_the_last_status(server: OllamaEmulator) -> None:
    response = _pull(server, {"model": "tiny", "stream": False})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_PLAIN
    assert response.json() == {"status": "success"}
    validate_response("pull", response.json(), content_type=JSON)


def test_plain_names_are_stored_under_registry_ollama_ai(
    client: ollama.Client, server: OllamaEmulator
) -> None:
    client.pull("tiny")
    assert (server.store.manifests_dir / "registry.ollama.ai" / "library" / "tiny" / "latest").is_file()
    assert [m.model for m in client.list().models] == ["tiny:latest"]


def test_legacy_name_field_still_pulls(server: OllamaEmulator) -> None:
    assert _pull(server, {"name": "tiny", "stream": False}).json() == {"status": "success"}


def test_every_blob_is_verified_and_stored(
    client: ollama.Client, server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    client.pull("tiny")
    for blob in _tiny_manifest(registry).blobs:
        path = server.store.blob_path(blob.digest)
        assert sha256_digest(path.read_bytes()) == blob.digest
    assert not list(server.store.blobs_dir.glob("*partial*"))


def test_explicit_host_needs_insecure_for_a_plain_http_registry(
    client: ollama.Client, server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    name = registry.model_name("tiny")
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull(name)
    assert caught.value.status_code == 500
    assert caught.value.error == (
        f'pull model manifest: Get "https://{registry.host}/v2/library/tiny/manifests/latest": '
        "http: server gave HTTP response to HTTPS client"
    )
    assert client.pull(name, insecure=True).status == "success"
    assert (server.store.manifests_dir / registry.host / "library" / "tiny" / "latest").is_file()


def test_a_registry_with_an_untrusted_certificate_fails_in_gos_words(
    client: ollama.Client, tmp_path: Path
) -> None:
    # server/images.go makeRequest: http.Client.Do returns crypto/tls's verification error in a *url.Error.
    with self_signed_tls_server(tmp_path) as port, pytest.raises(ollama.ResponseError) as caught:
        client.pull(f"127.0.0.1:{port}/library/tiny")
    assert caught.value.status_code == 500
    assert caught.value.error == (
        f'pull model manifest: Get "https://127.0.0.1:{port}/v2/library/tiny/manifests/latest": '
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    )


def test_http_scheme_without_insecure_fails_before_any_line(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    response = _pull(server, {"model": f"http://{registry.host}/library/tiny"})
    assert_error(response, 500, "insecure protocol http", content_type=JSON_PLAIN)
    with_flag = _pull(
        server, {"model": f"http://{registry.host}/library/tiny", "insecure": True, "stream": False}
    )
    assert with_flag.json() == {"status": "success"}


def test_unknown_model_fails_after_the_first_line_when_streaming(server: OllamaEmulator) -> None:
    lines = assert_stream_error(
        _pull(server, {"model": "missing"}), "pull model manifest: file does not exist"
    )
    assert lines == [{"status": "pulling manifest"}]


def test_unknown_model_is_500_without_streaming(client: ollama.Client, server: OllamaEmulator) -> None:
    response = _pull(server, {"model": "missing", "stream": False})
    assert_error(response, 500, "pull model manifest: file does not exist", content_type=JSON_PLAIN)
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("missing")
    assert (caught.value.status_code, caught.value.error) == (500, "pull model manifest: file does not exist")


def test_unknown_model_raises_mid_stream_in_the_client(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.pull("missing", stream=True))
    assert caught.value.status_code == -1


@pytest.mark.parametrize(
    ("body", "message"),
    [({"model": "a/b/c/d"}, "invalid model name"), ({}, "invalid model name")],
)
def test_invalid_names_are_400(server: OllamaEmulator, body: dict[str, Any], message: str) -> None:
    assert_error(_pull(server, body), 400, message)


def test_missing_body_is_400(server: OllamaEmulator) -> None:
    assert_error(httpx.post(server.url + "/api/pull"), 400, "missing request body")


def test_blobs_already_on_disk_are_not_downloaded_again(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    _pull(server, {"model": "tiny", "stream": False})
    served = registry.stats.blob_bytes_served
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    assert registry.stats.blob_bytes_served == served
    progress = [line for line in lines if "digest" in line]
    assert progress
    assert all(line["completed"] == line["total"] for line in progress)


def test_corrupt_blob_is_deleted_and_the_pull_fails(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    model_layer = _tiny_manifest(registry).layer("model")
    assert model_layer is not None
    registry.faults.corrupt(digest=model_layer.digest)
    response = _pull(server, {"model": "tiny", "stream": False})
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith(
        f"digest mismatch, file must be downloaded again: want {model_layer.digest}, got sha256:"
    )
    assert not server.store.has_blob(model_layer.digest)
    assert server.store.find_manifest(ModelName.parse("tiny")) is None


def test_truncated_transfer_is_retried_and_completes(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    registry.faults.truncate(after_bytes=1000, times=1)
    assert _pull(server, {"model": "tiny", "stream": False}).json() == {"status": "success"}
    assert registry.stats.requests["cdn_get"] > len(_tiny_manifest(registry).blobs)


def test_stalled_part_is_retried(server: OllamaEmulator, registry: RegistryEmulator) -> None:
    registry.faults.stall(after_bytes=1000, times=1)
    assert _pull(server, {"model": "tiny", "stream": False}).json() == {"status": "success"}


def test_persistent_blob_errors_end_in_max_retries(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    registry.faults.error(503, kinds="cdn_get")
    response = _pull(server, {"model": "tiny", "stream": False})
    # Ollama copies whatever body answers a part's GET: the short error body ends early (io.EOF).
    assert_error(response, 500, "max retries exceeded: EOF", content_type=JSON_PLAIN)


def test_direct_url_errors_retry_until_the_deadline(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    registry.faults.error(500, kinds="blob_get")
    response = _pull(server, {"model": "tiny", "stream": False})
    assert_error(response, 500, "context deadline exceeded", content_type=JSON_PLAIN)


@pytest.fixture
def location_less_registry() -> Iterator[str]:
    """A registry that serves blobs with a plain 200 and no Location, as some proxies do."""
    config = json.dumps({"model_format": "gguf"}).encode()
    digest = sha256_digest(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()

    async def manifests(request: Request) -> Response:
        return Response(manifest)

    async def blobs(request: Request) -> Response:
        return Response(config, headers={"content-length": str(len(config))})

    app = Starlette(
        routes=[
            Route("/v2/library/plain/manifests/latest", manifests),
            Route("/v2/library/plain/blobs/{digest}", blobs, methods=["GET", "HEAD"]),
        ]
    )
    with BackgroundServer(app) as registry_server:
        yield registry_server.url.removeprefix("http://")


def test_blob_answer_without_location_fails_like_ollama(
    server: OllamaEmulator, location_less_registry: str
) -> None:
    response = _pull(
        server, {"model": f"{location_less_registry}/library/plain", "insecure": True, "stream": False}
    )
    assert_error(response, 500, "http: no Location header in response", content_type=JSON_PLAIN)


def test_repull_of_a_changed_tag_removes_unused_layers(
    server: OllamaEmulator, registry: RegistryEmulator
) -> None:
    _pull(server, {"model": "tiny", "stream": False})
    old_system = _tiny_manifest(registry).layer("system")
    old_config = _tiny_manifest(registry).config
    registry.add_model(replace(TINY, system="A different system prompt."))
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    assert {"status": "removing unused layers"} in lines
    assert not server.store.has_blob(old_config.digest)
    if old_system is not None:
        assert not server.store.has_blob(old_system.digest)


def test_noprune_keeps_layers_a_repull_no_longer_uses(
    ollama_emulator_factory: Callable[..., Any], registry: RegistryEmulator
) -> None:
    server = ollama_emulator_factory(registry_url=registry.url, noprune=True)
    old_config = _tiny_manifest(registry).config
    _pull(server, {"model": "tiny", "stream": False})
    registry.add_model(replace(TINY, system="Changed."))
    lines = ndjson_lines(_pull(server, {"model": "tiny"}))
    assert {"status": "removing unused layers"} not in lines
    assert server.store.has_blob(old_config.digest)


@pytest.mark.asyncio
async def test_concurrent_pulls_share_one_download(
    async_client: ollama.AsyncClient, registry: RegistryEmulator
) -> None:
    results = await asyncio.gather(async_client.pull("tiny"), async_client.pull("tiny"))
    assert [r.status for r in results] == ["success", "success"]
    model_layer = _tiny_manifest(registry).layer("model")
    assert model_layer is not None
    assert registry.stats.blob_bytes_by_digest[model_layer.digest] == model_layer.size


@pytest.mark.asyncio
async def test_async_client_streams_a_pull(async_client: ollama.AsyncClient) -> None:
    statuses = [event.status async for event in await async_client.pull("tiny", stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"


def test_interrupted_pull_resumes_from_the_saved_parts(
    ollama_emulator_factory: Callable[..., Any], registry: RegistryEmulator
) -> None:
    # Ollama's own timings, so the stall below is not retried before the client goes away.
    server = ollama_emulator_factory(registry_url=registry.url)
    model_layer = _tiny_manifest(registry).layer("model")
    assert model_layer is not None
    stall = registry.faults.stall(after_bytes=300_000, digest=model_layer.digest, times=1)
    with httpx.stream("POST", server.url + "/api/pull", json={"model": "tiny"}, timeout=30) as response:
        for line in response.iter_lines():
            event = json.loads(line)
            if event.get("digest") == model_layer.digest and event.get("completed", 0) >= 300_000:
                break
    # The client is gone: the download stops and keeps its parts.
    _wait_until(lambda: not server.state.downloads, "the abandoned download stopped")
    partial = server.store.blob_path(model_layer.digest).with_name(
        server.store.blob_path(model_layer.digest).name + "-partial-0"
    )
    saved = json.loads(partial.read_bytes())
    assert saved["Completed"] == 300_000
    assert _pull(server, {"model": "tiny", "stream": False}).json() == {"status": "success"}
    assert registry.stats.blob_bytes_by_digest[model_layer.digest] == model_layer.size
    assert not partial.exists()
    # Released only now: released earlier, the stalled response could count its remaining bytes as sent
    # into the abandoned connection before it noticed the client was gone.
    stall.release()


def test_a_registry_wanting_a_token_gets_one_signed_with_the_servers_key(
    ollama_emulator_factory: Callable[..., OllamaEmulator],
) -> None:
    with RegistryEmulator(require_auth=True) as private:
        emulator = ollama_emulator_factory(pull_time_scale=FAST_TRANSFERS)
        name = private.model_name("tiny")
        response = _pull(emulator, {"model": name, "insecure": True, "stream": False})
        assert response.json() == {"status": "success"}
        assert private.auth.issued == 1, "one token, reused for the blobs"


def test_a_registry_that_does_not_know_the_key_refuses_the_pull(
    ollama_emulator_factory: Callable[..., OllamaEmulator],
) -> None:
    with RegistryEmulator(
        require_auth=True, known_keys=frozenset({"ssh-ed25519 AAAAsomeoneelse"})
    ) as private:
        emulator = ollama_emulator_factory(pull_time_scale=FAST_TRANSFERS)
        response = _pull(emulator, {"model": private.model_name("tiny"), "insecure": True, "stream": False})
        assert response.status_code == 500
        message = response.json()["error"]
        assert message.startswith('pull model manifest: 401: {"errors":[{"code":"UNAUTHORIZED"')
        assert "unknown ollama key" in message


def test_the_registry_sees_ollamas_user_agent(server: OllamaEmulator) -> None:
    agents: list[str] = []

    async def registry(request: Request) -> Response:
        agents.append(request.headers.get("user-agent", ""))
        return Response(status_code=404)

    with BackgroundServer(Starlette(routes=[Route("/v2/{path:path}", registry)])) as fake:
        name = f"{fake.url.removeprefix('http://')}/library/x"
        _pull(server, {"model": name, "insecure": True, "stream": False})
    assert agents == ["ollama/0.33.0-rc2 (amd64 linux) Go/go1.26.0"]
