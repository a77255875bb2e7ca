"""Runtime fault injection: 5xx answers, stalled responses and process exits, each shown to take effect."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import ollama
import pytest

from airflow_provider_ollama.testing.emulator.faults import Faults, FaultUnavailableError
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
from tests.testing.emulator.support import assert_error

BUSY = "server busy, please try again.  maximum pending requests exceeded"


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_fail_next_answers_a_5xx_with_an_ollama_body_once(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.fail_next(status=503)
    assert_error(httpx.get(ollama_emulator.url + "/api/tags"), 503, BUSY)
    assert httpx.get(ollama_emulator.url + "/api/tags").status_code == 200


def test_fail_next_counts_and_matches_paths(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.fail_next(2, status=500, message="runner crashed", path="/api/show")
    assert httpx.get(ollama_emulator.url + "/api/tags").status_code == 200
    for _ in range(2):
        assert_error(
            httpx.post(ollama_emulator.url + "/api/show", json={"model": "x"}), 500, "runner crashed"
        )
    assert httpx.post(ollama_emulator.url + "/api/show", json={"model": "x"}).status_code == 404


def test_fail_next_reaches_the_official_client(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.fail_next(status=502, message="bad gateway")
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=ollama_emulator.url).list()
    assert (caught.value.status_code, caught.value.error) == (502, "bad gateway")


def test_fail_next_only_injects_server_errors(ollama_emulator: OllamaEmulator) -> None:
    with pytest.raises(ValueError, match="5xx"):
        ollama_emulator.faults.fail_next(status=404)


def test_stall_sends_headers_then_no_bytes(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.stall_next(path="/api/tags")
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=0.3)) as http,
        http.stream("GET", ollama_emulator.url + "/api/tags") as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()
    ollama_emulator.faults.release()


def test_released_stall_completes_the_response(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.stall_next(path="/api/tags")
    with httpx.stream("GET", ollama_emulator.url + "/api/tags", timeout=10) as response:
        _wait_until(lambda: ollama_emulator.faults.stalled == 1, "the response stalls")
        ollama_emulator.faults.release()
        assert json.loads(response.read()) == {"models": []}


def test_a_release_before_the_wait_begins_still_lets_the_response_go() -> None:
    # A client sees the headers, then releases, while the server has yet to reach the stall's wait;
    # that response must not stay stalled (CI saw it hang once when the wait read the release count).
    faults = Faults()
    faults.stall_next(path="/api/tags")
    taken = faults._take_stall("/api/tags")
    assert taken is not None
    faults.release()
    asyncio.run(asyncio.wait_for(faults._wait_stalled(taken), timeout=5))
    assert faults.stalled == 0


def test_stall_after_lines_cuts_a_stream_short_until_released(server: OllamaEmulator) -> None:
    server.faults.stall_next(path="/api/pull", after_lines=1)
    with httpx.stream("POST", server.url + "/api/pull", json={"model": "tiny"}, timeout=10) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines)) == {"status": "pulling manifest"}
        _wait_until(lambda: server.faults.stalled == 1, "the stream stalls after one line")
        server.faults.release()
        assert json.loads(list(lines)[-1]) == {"status": "success"}


def test_timed_stall_releases_itself(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.stall_next(seconds=0.3)
    started = time.monotonic()
    assert httpx.get(ollama_emulator.url + "/api/version", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_exit_faults_are_refused_in_thread(ollama_emulator: OllamaEmulator) -> None:
    with pytest.raises(FaultUnavailableError, match="OllamaEmulatorProcess"):
        ollama_emulator.faults.exit_after_requests(1)
    response = httpx.post(ollama_emulator.url + "/_emulator/faults", json={"exit": {"after_requests": 1}})
    assert response.status_code == 400
    assert "OllamaEmulatorProcess" in response.json()["error"]


def test_faults_switch_over_http(ollama_emulator: OllamaEmulator) -> None:
    answer = httpx.post(
        ollama_emulator.url + "/_emulator/faults",
        json={"fail": {"status": 500, "message": "oops", "path": "/"}},
    )
    assert answer.status_code == 200
    assert answer.json()["errors"][0]["message"] == "oops"
    assert_error(httpx.get(ollama_emulator.url + "/"), 500, "oops")
    bad = httpx.post(ollama_emulator.url + "/_emulator/faults", json={"explode": {}})
    assert bad.status_code == 400


def test_stats_count_requests_and_reset(ollama_emulator: OllamaEmulator) -> None:
    httpx.get(ollama_emulator.url + "/api/tags")
    httpx.get(ollama_emulator.url + "/api/tags")
    stats = httpx.get(ollama_emulator.url + "/_emulator/stats").json()
    assert stats["requests"]["GET /api/tags"] == 2
    assert ollama_emulator.stats.requests_to("GET", "/api/tags") == 2
    httpx.post(ollama_emulator.url + "/_emulator/stats/reset")
    assert ollama_emulator.stats.requests_to("GET", "/api/tags") == 0


def test_reset_clears_faults_and_counters(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.faults.fail_next(5)
    httpx.post(ollama_emulator.url + "/_emulator/reset")
    assert httpx.get(ollama_emulator.url + "/api/tags").status_code == 200


@pytest.fixture
def process(ollama_emulator_factory: Callable[..., Any]) -> OllamaEmulatorProcess:
    handle: OllamaEmulatorProcess = ollama_emulator_factory(process=True)
    return handle


def test_exit_after_requests_stops_the_process(process: OllamaEmulatorProcess) -> None:
    process.faults.exit_after_requests(2, path="/api/tags")
    assert httpx.get(process.url + "/api/tags").status_code == 200
    assert httpx.get(process.url + "/api/tags").status_code == 200
    assert process.wait(10) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(process.url + "/api/tags")


def test_exit_mid_stream_cuts_the_connection(process: OllamaEmulatorProcess, ollama_registry: Any) -> None:
    process.faults.exit_after_lines(1, path="/api/pull")
    received: list[dict[str, Any]] = []
    body = {"model": ollama_registry.model_name("tiny"), "insecure": True}

    def read_stream() -> None:
        with httpx.stream("POST", process.url + "/api/pull", json=body) as response:
            received.extend(json.loads(line) for line in response.iter_lines())

    with pytest.raises(httpx.RemoteProtocolError):
        read_stream()
    assert received == [{"status": "pulling manifest"}]
    assert process.wait(10) == 1


def test_process_faults_and_stats_go_through_the_control_endpoint(process: OllamaEmulatorProcess) -> None:
    process.faults.fail_next(status=503)
    assert httpx.get(process.url + "/api/tags").status_code == 503
    assert process.stats.requests_to("GET", "/api/tags") == 1
    assert process.faults.describe()["errors"] == []
