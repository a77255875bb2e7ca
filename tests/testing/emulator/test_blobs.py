"""HEAD and POST /api/blobs/:digest: existence checks and verified uploads (plain and chunked)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from tests.testing.emulator.support import assert_error


@pytest.fixture
def blob_file(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_head_of_a_missing_blob_is_404(server: OllamaEmulator) -> None:
    response = httpx.head(f"{server.url}/api/blobs/sha256:{'a' * 64}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "a" * 64, "sha256:" + "g" * 64])
def test_malformed_digest_is_400_invalid_digest_format(server: OllamaEmulator, digest: str) -> None:
    assert_error(httpx.post(f"{server.url}/api/blobs/{digest}", content=b"x"), 400, "invalid digest format")
    assert httpx.head(f"{server.url}/api/blobs/{digest}").status_code == 400


def test_sync_client_uploads_a_blob(client: ollama.Client, server: OllamaEmulator, blob_file: Path) -> None:
    digest = client.create_blob(blob_file)
    assert digest == _digest(blob_file)
    assert server.store.blob_path(digest).read_bytes() == blob_file.read_bytes()
    assert httpx.head(f"{server.url}/api/blobs/{digest}").status_code == 200


@pytest.mark.asyncio
async def test_async_client_uploads_a_chunked_blob(
    async_client: ollama.AsyncClient, server: OllamaEmulator, blob_file: Path
) -> None:
    digest = await async_client.create_blob(blob_file)
    assert digest == _digest(blob_file)
    assert server.store.has_blob(digest)


def test_chunked_upload_is_hashed_as_it_streams(server: OllamaEmulator) -> None:
    data = b"chunk" * 100_000

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = httpx.post(f"{server.url}/api/blobs/{digest}", content=pieces())
    assert response.status_code == 201
    assert response.content == b""
    assert server.store.blob_path(digest).read_bytes() == data


def test_upload_of_an_existing_blob_is_200_without_reading_the_body(
    server: OllamaEmulator, blob_file: Path
) -> None:
    digest = _digest(blob_file)
    assert httpx.post(f"{server.url}/api/blobs/{digest}", content=blob_file.read_bytes()).status_code == 201
    again = httpx.post(f"{server.url}/api/blobs/{digest}", content=b"different bytes are never looked at")
    assert again.status_code == 200
    assert server.store.blob_path(digest).read_bytes() == blob_file.read_bytes()


def test_digest_mismatch_is_400_and_keeps_nothing(server: OllamaEmulator) -> None:
    claimed = "sha256:" + "0" * 64
    actual = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    response = httpx.post(f"{server.url}/api/blobs/{claimed}", content=b"hello")
    assert_error(response, 400, f'digest mismatch, expected "{claimed}", got "{actual}"')
    assert list(server.store.blobs_dir.iterdir()) == []


def test_client_reports_an_upload_failure_as_a_response_error(
    client: ollama.Client, server: OllamaEmulator
) -> None:
    server.faults.fail_next(status=500, message="disk full", path="/api/blobs/*")
    with pytest.raises(ollama.ResponseError) as caught:
        client.create_blob(__file__)
    assert (caught.value.status_code, caught.value.error) == (500, "disk full")
