"""Account, cloud-status and experimental routes, answered as an offline Ollama 0.33 answers them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from tests.testing.emulator.support import assert_error


def test_status_reports_cloud_enabled(server: OllamaEmulator) -> None:
    response = httpx.get(server.url + "/api/status")
    assert response.status_code == 200
    assert response.json() == {"cloud": {"disabled": False, "source": "none"}}


def test_status_reports_cloud_disabled_by_env(ollama_emulator_factory: Callable[..., Any]) -> None:
    server = ollama_emulator_factory(no_cloud=True)
    assert httpx.get(server.url + "/api/status").json() == {"cloud": {"disabled": True, "source": "env"}}
    response = httpx.post(server.url + "/api/experimental/web_search", json={"query": "x"})
    assert_error(response, 403, "ollama cloud is disabled: web search is unavailable")


def test_account_routes_fail_as_without_ollama_com(server: OllamaEmulator) -> None:
    assert_error(httpx.post(server.url + "/api/me"), 503, "account unavailable")
    assert_error(httpx.post(server.url + "/api/signout"), 500, "there was an error signing out")
    assert_error(httpx.delete(server.url + "/api/user/keys/abc"), 500, "there was an error signing out")


@pytest.mark.parametrize(("route", "upstream"), [("web_search", "web_search"), ("web_fetch", "web_fetch")])
def test_web_tools_need_a_body_then_fail_to_reach_the_cloud(
    server: OllamaEmulator, route: str, upstream: str
) -> None:
    url = f"{server.url}/api/experimental/{route}"
    assert_error(httpx.post(url, content=b"  "), 400, "missing request body")
    assert_error(
        httpx.post(url, json={"query": "airflow"}),
        502,
        f'Post "https://ollama.com:443/api/{upstream}": dial tcp: lookup ollama.com: no such host',
    )


def test_model_recommendations_are_the_built_in_list(server: OllamaEmulator) -> None:
    body = httpx.get(server.url + "/api/experimental/model-recommendations").json()
    models = [entry["model"] for entry in body["recommendations"]]
    assert models[0] == "kimi-k2.6:cloud"
    assert body["recommendations"][-1] == {
        "model": "qwen3.5",
        "description": "Reasoning, coding, and visual understanding locally",
        "vram_bytes": 14 << 30,
    }
