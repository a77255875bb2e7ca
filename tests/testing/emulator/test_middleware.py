"""gin's routing answers, the allowed-hosts check, the optional token and the request log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_ollama.testing._serving import BackgroundServer
from airflow_provider_ollama.testing.emulator.app import create_app
from airflow_provider_ollama.testing.emulator.middleware import host_is_allowed
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from tests.testing.emulator.openapi import validate_response


@pytest.mark.smoke
def test_root_says_ollama_is_running(ollama_emulator: OllamaEmulator) -> None:
    response = httpx.get(ollama_emulator.url + "/")
    assert response.status_code == 200
    assert response.text == "Ollama is running"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "server" not in response.headers, "Go's net/http sends no Server header"


def test_head_root_answers_200_without_a_body(ollama_emulator: OllamaEmulator) -> None:
    response = httpx.head(ollama_emulator.url + "/")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_version_reports_the_configured_version(
    ollama_emulator_factory: Callable[..., Any], method: str
) -> None:
    emulator = ollama_emulator_factory(version="0.99.1")
    response = httpx.request(method, emulator.url + "/api/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    if method == "GET":
        assert response.json() == {"version": "0.99.1"}
        validate_response("version", response.json())


def test_unknown_path_is_gins_plain_404(ollama_emulator: OllamaEmulator) -> None:
    response = httpx.post(ollama_emulator.url + "/api/nothing", json={})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain"
    assert response.text == "404 page not found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/pull", "POST"),
        ("POST", "/api/tags", "GET, HEAD"),
        ("GET", "/api/delete", "DELETE"),
        ("HEAD", "/api/ps", "GET"),
        ("GET", "/api/blobs/sha256:00", "POST, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(
    ollama_emulator: OllamaEmulator, method: str, path: str, allow: str
) -> None:
    response = httpx.request(method, ollama_emulator.url + path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert response.text == "405 method not allowed"


def test_trailing_slash_redirects_like_gin(ollama_emulator: OllamaEmulator) -> None:
    response = httpx.get(ollama_emulator.url + "/api/tags/")
    assert response.status_code == 301
    assert response.headers["location"] == "/api/tags"


def test_foreign_host_header_is_forbidden_on_loopback(ollama_emulator: OllamaEmulator) -> None:
    response = httpx.get(ollama_emulator.url + "/api/tags", headers={"Host": "attacker.example.com"})
    assert response.status_code == 403
    assert response.content == b""


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost:11434", True),
        ("127.0.0.1", True),
        ("[::1]:11434", True),
        ("10.1.2.3:80", True),
        ("gpu-box.local", True),
        ("api.internal", True),
        ("ollama.com", False),
        ("8.8.8.8", False),
    ],
)
def test_allowed_hosts_match_ollamas_rules(host: str, allowed: bool) -> None:
    assert host_is_allowed(host) is allowed


def test_token_is_required_when_configured(ollama_emulator_factory: Callable[..., Any]) -> None:
    emulator = ollama_emulator_factory(required_token="s3cret")
    denied = httpx.get(emulator.url + "/api/tags")
    assert denied.status_code == 401
    assert denied.json() == {"error": "unauthorized"}
    allowed = httpx.get(emulator.url + "/api/tags", headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 200
    assert httpx.get(emulator.url + "/_emulator/stats").status_code == 200, "control endpoints stay open"


def test_each_request_is_logged_like_gin(tmp_path: Path) -> None:
    lines: list[str] = []
    state = EmulatorState(EmulatorSettings(models_dir=tmp_path))
    with BackgroundServer(create_app(state, log=lines.append)) as server:
        httpx.get(server.url + "/api/tags")
    assert len(lines) == 1
    assert lines[0].startswith("[GIN] ")
    assert "| 200 |" in lines[0]
    assert '| GET     "/api/tags"' in lines[0]


def test_a_request_is_counted_when_it_arrives_not_when_its_answer_ends(
    ollama_emulator: OllamaEmulator,
) -> None:
    # A client that has its answer must find its request counted; the answer may end after it returns.
    ollama_emulator.faults.stall_next(path="/api/tags")  # headers go out, then the body waits
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", ollama_emulator.url + "/api/tags") as response,
    ):
        assert response.status_code == 200
        assert ollama_emulator.stats.requests_to("GET", "/api/tags") == 1
        ollama_emulator.faults.release()
        assert response.read().startswith(b'{"models":')

    assert ollama_emulator.stats.requests_to("GET", "/api/tags") == 1
