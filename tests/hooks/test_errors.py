"""Every failure the hook can meet ends in one typed error naming the server and what to do.

Real conditions wherever they can be caused (a closed port, a token-checking server, stalls, 4xx and
5xx answers, a stream cut by a dying process, TLS against plain http); constructed exceptions only
for what no server here can produce.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import ollama
import pydantic
import pytest

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaBadRequestError,
    OllamaError,
    OllamaModelNotFoundError,
    OllamaServerBusyError,
    OllamaServerError,
    OllamaServerNotReadyError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)
from airflow_provider_ollama.hooks._errors import RequestContext, to_ollama_error, translated_errors
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.ports import unused_port

TOKEN = "s3cret-token-value"


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{unused_port()}"


@pytest.fixture
def guarded_emulator(ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator | OllamaEmulatorProcess:
    """An emulator that, like a server behind an authenticating proxy, wants ``Bearer <TOKEN>``."""
    return ollama_emulator_factory(required_token=TOKEN)


def _connection_hook(monkeypatch: pytest.MonkeyPatch, url: str, password: str | None) -> OllamaHook:
    fields: dict[str, Any] = {"conn_type": "ollama", "host": url}
    if password is not None:
        fields["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_ERRORS", json.dumps(fields))
    return OllamaHook("ollama_errors")


# The three ways a request leaves the hook: plain httpx, the client, and the client streaming.
CALL_PATHS: dict[str, Callable[[OllamaHook], object]] = {
    "httpx": lambda hook: hook.version(),
    "client": lambda hook: hook.list_models(),
    "client-stream": lambda hook: hook.pull("tiny"),
}


# --- unreachable ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call", CALL_PATHS.values(), ids=CALL_PATHS.keys())
def test_a_closed_port_is_unreachable_whatever_the_call(
    closed_url: str, call: Callable[[OllamaHook], object]
) -> None:
    with pytest.raises(OllamaServerUnreachableError) as raised:
        call(OllamaHook(base_url=closed_url))
    message = str(raised.value)
    assert f"Cannot connect to Ollama at {closed_url}" in message
    assert "Is `ollama serve` running there and reachable from this worker?" in message


@pytest.mark.asyncio
async def test_a_closed_port_is_unreachable_for_async_calls(closed_url: str) -> None:
    hook = OllamaHook(base_url=closed_url)
    with pytest.raises(OllamaServerUnreachableError, match=f"Cannot connect to Ollama at {closed_url}"):
        await hook.aversion()
    with pytest.raises(OllamaServerUnreachableError, match=f"Cannot connect to Ollama at {closed_url}"):
        await hook.agenerate("tiny", "hi")


def test_https_against_a_plain_http_server_is_a_tls_failure(ollama_emulator: OllamaEmulator) -> None:
    url = ollama_emulator.url.replace("http://", "https://")
    for call in CALL_PATHS.values():
        with pytest.raises(OllamaServerUnreachableError, match=f"TLS with Ollama at {url} failed") as raised:
            call(OllamaHook(base_url=url))
        assert "verify_ssl" in str(raised.value)
        assert "Failed to connect to Ollama" not in str(raised.value)  # the client's generic words


@pytest.mark.parametrize("suffix", ["/not-ollama"], ids=["wrong-path-prefix"])
def test_a_url_that_is_not_ollamas_api_says_to_check_the_path_prefix(
    ollama_emulator: OllamaEmulator, suffix: str
) -> None:
    hook = OllamaHook(base_url=ollama_emulator.url + suffix)
    for call in CALL_PATHS.values():
        with pytest.raises(OllamaServerUnreachableError, match="but not Ollama's API") as raised:
            call(hook)
        assert "path prefix" in str(raised.value)


def test_another_http_service_is_not_mistaken_for_ollama(ollama_registry_session: RegistryEmulator) -> None:
    with pytest.raises(
        OllamaServerUnreachableError, match=f"at {ollama_registry_session.url}, but not Ollama's API"
    ):
        OllamaHook(base_url=ollama_registry_session.url).version()


# --- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, "wrong-token-value"], ids=["no-token", "wrong-token"])
@pytest.mark.parametrize("call", CALL_PATHS.values(), ids=CALL_PATHS.keys())
def test_a_rejected_token_is_an_auth_error_pointing_at_the_password_field(
    monkeypatch: pytest.MonkeyPatch,
    guarded_emulator: OllamaEmulator,
    password: str | None,
    call: Callable[[OllamaHook], object],
) -> None:
    hook = _connection_hook(monkeypatch, guarded_emulator.url, password)
    with pytest.raises(OllamaAuthError) as raised:
        call(hook)
    message = str(raised.value)
    assert f"Ollama at {guarded_emulator.url} refused" in message
    assert "HTTP 401" in message
    assert "bearer token (Password field)" in message
    assert "wrong-token-value" not in message


def test_the_right_token_is_let_through(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    hook = _connection_hook(monkeypatch, guarded_emulator.url, TOKEN)
    assert hook.version() == guarded_emulator.settings.version
    assert hook.list_models() == []


def test_wait_until_ready_gives_up_at_once_on_a_rejected_token(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    hook = _connection_hook(monkeypatch, guarded_emulator.url, "wrong-token-value")
    started = time.monotonic()
    with pytest.raises(OllamaAuthError):
        hook.wait_until_ready(timeout=30)
    assert time.monotonic() - started < 5


# --- timeouts ------------------------------------------------------------------------------------


def test_a_server_that_stops_answering_times_out_with_the_limit_in_the_message(
    ollama_emulator: OllamaEmulator,
) -> None:
    hook = OllamaHook(base_url=ollama_emulator.url, timeout=0.5)
    ollama_emulator.faults.stall_next(path="/api/tags")
    started = time.monotonic()
    with pytest.raises(OllamaTimeoutError) as raised:
        hook.list_models()
    assert time.monotonic() - started < 5
    assert f"Ollama at {ollama_emulator.url} did not answer the list request within 0.5 s" in str(
        raised.value
    )
    assert "request_timeout" in str(raised.value)


def test_a_stream_that_stalls_midway_times_out(
    ollama_emulator: OllamaEmulator, ollama_registry_session: RegistryEmulator
) -> None:
    hook = OllamaHook(base_url=ollama_emulator.url, timeout=0.5)
    ollama_emulator.faults.stall_next(path="/api/pull", after_lines=1)
    with pytest.raises(OllamaTimeoutError, match="did not answer the pull request for model"):
        hook.pull(ollama_registry_session.model_name("tiny"), insecure=True)


def test_wait_until_ready_reports_the_deadline_and_the_last_failure(closed_url: str) -> None:
    hook = OllamaHook(base_url=closed_url)
    started = time.monotonic()
    with pytest.raises(OllamaServerNotReadyError) as raised:
        hook.wait_until_ready(timeout=0.3, poke_interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 3
    assert isinstance(raised.value, OllamaTimeoutError)
    assert isinstance(raised.value.__cause__, OllamaServerUnreachableError)
    assert f"Ollama at {closed_url} was not ready within 0.3 s. Last attempt: Cannot connect" in str(
        raised.value
    )


# --- answers the server refuses --------------------------------------------------------------------


MISSING_MODEL_CALLS: dict[str, Callable[[OllamaHook], object]] = {
    "show": lambda hook: hook.show("absent-model"),
    "generate": lambda hook: hook.generate("absent-model", "hi"),
    "chat": lambda hook: hook.chat("absent-model", [{"role": "user", "content": "hi"}]),
    "embed": lambda hook: hook.embed("absent-model", "hi"),
    "copy": lambda hook: hook.copy("absent-model", "other"),
    "delete": lambda hook: hook.delete("absent-model"),
}


@pytest.mark.parametrize("call", MISSING_MODEL_CALLS.values(), ids=MISSING_MODEL_CALLS.keys())
def test_a_missing_model_says_to_pull_it_first(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, call: Callable[[OllamaHook], object]
) -> None:
    with pytest.raises(OllamaModelNotFoundError) as raised:
        call(hook)
    message = str(raised.value)
    assert f"Model 'absent-model' is not on the Ollama server at {ollama_emulator.url}" in message
    assert "OllamaPullOperator" in message


def test_pulling_a_name_the_registry_lacks_says_to_check_the_name(
    hook: OllamaHook, ollama_registry_session: RegistryEmulator
) -> None:
    name = ollama_registry_session.model_name("no-such-model:7b")
    with pytest.raises(OllamaModelNotFoundError, match=f"The registry has no model '{name}'") as raised:
        hook.pull(name, insecure=True)
    assert "Check the model's name and tag" in str(raised.value)


def test_creating_from_a_base_the_registry_lacks_names_the_base(
    ollama_emulator_factory: EmulatorFactory, ollama_registry_session: RegistryEmulator
) -> None:
    # Names without a host come from the emulator's default registry, as they would from ollama.com.
    emulator = ollama_emulator_factory(registry_url=ollama_registry_session.url)
    hook = OllamaHook(base_url=emulator.url)
    with pytest.raises(OllamaModelNotFoundError, match=r"The base model \('from'\) of the create request"):
        hook.create("derived", from_model="no-such-base")


def test_a_request_the_server_rejects_is_a_bad_request_quoting_the_server(
    hook: OllamaHook, tiny_model: str
) -> None:
    with pytest.raises(OllamaBadRequestError) as raised:
        hook.generate(tiny_model, "hi", logprobs=True, top_logprobs=50)
    assert "(HTTP 400: top_logprobs must be between 0 and 20)" in str(raised.value)


def test_arguments_the_client_refuses_are_a_bad_request_before_sending(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    before = ollama_emulator.stats.requests_to("POST", "/api/generate")
    with pytest.raises(OllamaBadRequestError, match="Invalid arguments for the generate request"):
        hook.generate(tiny_model, "hi", format="yaml")
    assert ollama_emulator.stats.requests_to("POST", "/api/generate") == before


def test_an_option_of_the_wrong_type_is_a_bad_request_before_sending(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    before = ollama_emulator.stats.requests_to("POST", "/api/generate")
    with pytest.raises(OllamaBadRequestError) as raised:
        hook.generate(tiny_model, "hi", options={"num_predict": "ten"})
    assert "option 'num_predict' expects an integer, got 'ten'" in str(raised.value)
    assert ollama_emulator.stats.requests_to("POST", "/api/generate") == before


def test_a_500_stating_a_type_error_is_a_bad_request_not_a_server_error(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    # An option the provider does not know (a newer Ollama's), refused by the server the way Ollama does.
    ollama_emulator.faults.fail_next(status=500, message='option "future_knob" must be of type integer')
    with pytest.raises(OllamaBadRequestError) as raised:
        hook.generate(tiny_model, "hi", options={"future_knob": "high"})
    assert 'option "future_knob" must be of type integer' in str(raised.value)


def test_asking_a_model_for_what_it_cannot_do_is_a_bad_request(hook: OllamaHook, embed_model: str) -> None:
    with pytest.raises(OllamaBadRequestError, match="does not support generate"):
        hook.generate(embed_model, "hi")


@pytest.mark.parametrize(
    ("status", "error_type", "advice"),
    [
        (500, OllamaServerError, "See the server's log."),
        (502, OllamaServerError, "See the server's log."),
        (503, OllamaServerBusyError, "OLLAMA_MAX_QUEUE"),
    ],
)
@pytest.mark.parametrize("call", CALL_PATHS.values(), ids=CALL_PATHS.keys())
def test_server_errors_are_typed_by_status(
    ollama_emulator: OllamaEmulator,
    status: int,
    error_type: type[OllamaError],
    advice: str,
    call: Callable[[OllamaHook], object],
) -> None:
    ollama_emulator.faults.fail_next(status=status)
    with pytest.raises(error_type) as raised:
        call(OllamaHook(base_url=ollama_emulator.url))
    assert type(raised.value) is error_type
    assert f"Ollama at {ollama_emulator.url}" in str(raised.value)
    assert f"HTTP {status}" in str(raised.value)
    assert advice in str(raised.value)


def test_an_error_line_mid_stream_is_a_server_error(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, ollama_registry_session: RegistryEmulator
) -> None:
    ollama_registry_session.faults.corrupt(times=1)
    try:
        with pytest.raises(
            OllamaServerError, match=r"failed the pull request for model .* mid-stream: digest"
        ):
            hook.pull(ollama_registry_session.model_name("tiny"), insecure=True)
    finally:
        ollama_registry_session.reset()


def test_a_server_dying_mid_stream_is_a_dropped_connection(
    ollama_emulator_factory: EmulatorFactory, ollama_registry_session: RegistryEmulator
) -> None:
    process = ollama_emulator_factory(process=True)
    process.faults.exit_after_lines(1, path="/api/pull")
    hook = OllamaHook(base_url=process.url, timeout=10)
    with pytest.raises(OllamaServerError) as raised:
        hook.pull(ollama_registry_session.model_name("tiny"), insecure=True)
    assert f"Ollama at {process.url} dropped the connection during the pull request" in str(raised.value)


# --- what no server here produces --------------------------------------------------------------------


CONTEXT = RequestContext(
    base_url="http://ollama:11434", action="generate", model="m", timeout=5, secrets=(TOKEN,)
)


def test_a_server_echoing_the_token_back_never_shows_it() -> None:
    error = to_ollama_error(ollama.ResponseError(f"bad header Bearer {TOKEN}", 400), CONTEXT)
    assert isinstance(error, OllamaBadRequestError)
    assert TOKEN not in str(error)
    assert "Bearer ***" in str(error)


def test_a_rate_limit_is_busy() -> None:
    assert isinstance(to_ollama_error(ollama.ResponseError("slow down", 429), CONTEXT), OllamaServerBusyError)


def test_a_client_side_request_error_is_a_bad_request() -> None:
    error = to_ollama_error(ollama.RequestError("must provide a model"), CONTEXT)
    assert isinstance(error, OllamaBadRequestError)
    assert "must provide a model" in str(error)


def test_a_response_the_client_cannot_read_names_the_server() -> None:
    class GenerateResponse(pydantic.BaseModel):
        response: str

    with pytest.raises(pydantic.ValidationError) as invalid:
        GenerateResponse.model_validate({})
    error = to_ollama_error(invalid.value, CONTEXT)
    assert isinstance(error, OllamaServerError)
    assert "response the client cannot read" in str(error)


def test_html_where_json_was_expected_is_not_ollama() -> None:
    with pytest.raises(json.JSONDecodeError) as invalid:
        json.loads("<html>")
    assert isinstance(to_ollama_error(invalid.value, CONTEXT), OllamaServerUnreachableError)


def test_a_connect_timeout_is_unreachable_not_a_slow_answer() -> None:
    error = to_ollama_error(httpx.ConnectTimeout("timed out"), CONTEXT)
    assert isinstance(error, OllamaServerUnreachableError)
    assert "Connecting to Ollama at http://ollama:11434 timed out" in str(error)


def test_errors_that_are_not_about_the_server_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), translated_errors(CONTEXT):
        raise KeyError("caller bug")
    assert to_ollama_error(KeyError("caller bug"), CONTEXT) is None


def test_a_full_load_queue_is_busy_and_says_how_to_avoid_it(
    ollama_emulator_factory: EmulatorFactory, ollama_registry_session: RegistryEmulator
) -> None:
    # Ollama 0.33 answers 503 only while more requests wait for a model to load than OLLAMA_MAX_QUEUE.
    server = ollama_emulator_factory(max_queue=1, load_seconds=0.5)
    name = ollama_registry_session.model_name("tiny")
    ollama.Client(host=server.url, timeout=30).pull(name, insecure=True)
    hook = OllamaHook(base_url=server.url, timeout=30)

    def generate(_: int) -> BaseException | None:
        try:
            hook.generate(name, "hi", options={"num_predict": 1})
        except OllamaError as error:
            return error
        return None

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(generate, range(4)))
    busy = [error for error in outcomes if isinstance(error, OllamaServerBusyError)]
    assert busy, outcomes
    assert "maximum pending requests exceeded" in str(busy[0])
    assert "wait for a model to load than OLLAMA_MAX_QUEUE" in str(busy[0])
    # Once loaded, the same burst waits for the slot instead.
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(generate, range(4))) == [None] * 4
