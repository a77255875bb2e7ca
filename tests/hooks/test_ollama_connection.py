"""OllamaHook on Airflow connections: URI and JSON env forms, IPv6, the token kept out of sight, no implicit token."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.sdk import Connection
from airflow.sdk._shared.secrets_masker import redact

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaConnectionConfigError,
    OllamaConnectionNotFoundError,
    OllamaError,
    OllamaServerError,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory

TOKEN = "s3cret-conn-token"
HEADER_KEY = "k3y-header-value"


@pytest.fixture
def guarded_emulator(ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator | OllamaEmulatorProcess:
    """An emulator that, like a server behind an authenticating proxy, wants ``Bearer <TOKEN>``."""
    return ollama_emulator_factory(required_token=TOKEN)


def test_a_uri_connection_with_an_encoded_host_and_query_extras_works(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    host = urllib.parse.quote(guarded_emulator.url, safe="")
    query = urllib.parse.urlencode(
        {
            "request_timeout": "30",
            "verify_ssl": "false",
            "keep_alive": "5m",
            "extra_headers": '{"X-Team": "ml"}',
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_URI", f"ollama://:{TOKEN}@{host}?{query}")
    hook = OllamaHook("ollama_uri")

    assert hook.version() == guarded_emulator.settings.version
    settings = hook.settings
    assert settings.base_url == guarded_emulator.url
    assert (settings.request_timeout, settings.verify_ssl, settings.keep_alive) == (30.0, False, "5m")
    assert settings.headers == {"X-Team": "ml", "Authorization": f"Bearer {TOKEN}"}


@pytest.mark.smoke
def test_a_json_connection_with_host_and_port_fields_works(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_JSON",
        json.dumps(
            {
                "conn_type": "ollama",
                "host": "http://127.0.0.1",
                "port": guarded_emulator.port,
                "password": TOKEN,
                "extra": {"request_timeout": 30, "verify_ssl": True, "extra_headers": {"X-Team": "ml"}},
            }
        ),
    )
    hook = OllamaHook("ollama_json")
    assert hook.test_connection() == (
        True,
        f"Connected to Ollama {guarded_emulator.settings.version} at {guarded_emulator.url}.",
    )


def test_a_uri_built_by_airflow_round_trips(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    connection = Connection(
        conn_id="ollama_built",
        conn_type="ollama",
        host=guarded_emulator.url,
        password=TOKEN,
        extra=json.dumps({"keep_alive": -1, "verify_ssl": False}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_BUILT", connection.get_uri())
    hook = OllamaHook("ollama_built")
    assert hook.version() == guarded_emulator.settings.version
    assert (hook.settings.keep_alive, hook.settings.verify_ssl) == (-1.0, False)


def test_a_reverse_proxy_path_prefix_survives_the_uri_form(monkeypatch: pytest.MonkeyPatch) -> None:
    host = urllib.parse.quote("https://gw.example.com/ollama", safe="")
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_GW", f"ollama://{host}")
    assert OllamaHook("ollama_gw").base_url == "https://gw.example.com:443/ollama"


def test_an_ipv6_loopback_server_is_reached(ollama_emulator_factory: EmulatorFactory) -> None:
    emulator = ollama_emulator_factory(host="::1")
    hook = OllamaHook(base_url=f"[::1]:{emulator.port}")
    assert hook.base_url == f"http://[::1]:{emulator.port}"
    assert hook.version() == emulator.settings.version


def test_a_bad_extra_fails_at_the_first_use_naming_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_BAD",
        json.dumps({"conn_type": "ollama", "host": "ollama", "extra": {"keep_alive": "soon"}}),
    )
    with pytest.raises(OllamaConnectionConfigError, match="Connection 'ollama_bad': keep_alive 'soon'"):
        OllamaHook("ollama_bad").version()
    assert OllamaHook("ollama_bad").test_connection()[0] is False


def test_a_bad_base_url_fails_where_the_hook_is_made() -> None:
    with pytest.raises(OllamaConnectionConfigError, match="scheme 'ftp'"):
        OllamaHook(base_url="ftp://ollama")


# --- secrets -------------------------------------------------------------------------------------


def _secret_connection(monkeypatch: pytest.MonkeyPatch, url: str) -> OllamaHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_SECRET",
        json.dumps(
            {
                "conn_type": "ollama",
                "host": url,
                "password": TOKEN,
                # A JSON string: Airflow's own extra masking cannot see inside it, the hook must.
                "extra": {"extra_headers": json.dumps({"X-Api-Key": HEADER_KEY, "X-Team": "ml-team"})},
            }
        ),
    )
    return OllamaHook("ollama_secret")


def test_the_token_and_secret_headers_are_registered_with_the_secret_masker(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    hook = _secret_connection(monkeypatch, guarded_emulator.url)
    hook.version()
    assert redact(f"auth {TOKEN} key {HEADER_KEY} team ml-team") == "auth *** key *** team ml-team"


@pytest.mark.asyncio
async def test_the_async_path_registers_the_secrets_too(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_ASECRET",
        json.dumps(
            {
                "conn_type": "ollama",
                "host": guarded_emulator.url,
                "password": TOKEN,
                "extra": {"extra_headers": json.dumps({"X-Api-Key": "k3y-async-value"})},
            }
        ),
    )
    hook = OllamaHook("ollama_asecret")
    assert await hook.aversion() == guarded_emulator.settings.version
    assert redact("k3y-async-value") == "***"


def test_the_token_is_never_in_repr_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    guarded_emulator: OllamaEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    hook = _secret_connection(monkeypatch, guarded_emulator.url)
    hook.version()
    guarded_emulator.faults.fail_next(status=500, message=f"upstream said Bearer {TOKEN}")
    with pytest.raises(OllamaServerError) as raised:
        hook.list_models()
    guarded_emulator.stop()
    ok, message = hook.test_connection()

    captured = capsys.readouterr()
    seen = [
        repr(hook),
        repr(hook.settings),
        str(raised.value),
        message,
        caplog.text,
        captured.out,
        captured.err,
    ]
    assert ok is False
    for text in seen:
        assert TOKEN not in text
        assert HEADER_KEY not in text
    assert "Bearer ***" in str(raised.value)


def _connection_hook(monkeypatch: pytest.MonkeyPatch, url: str, *, token: str | None = None) -> OllamaHook:
    connection = {"conn_type": "ollama", "host": url}
    if token is not None:
        connection["password"] = token
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_KEYED", json.dumps(connection))
    return OllamaHook("ollama_keyed")


def test_the_workers_ollama_api_key_is_never_sent_by_the_sync_clients(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    # The emulator accepts exactly this key, so any request that carried it would succeed.
    monkeypatch.setenv("OLLAMA_API_KEY", TOKEN)
    hook = _connection_hook(monkeypatch, guarded_emulator.url)
    with pytest.raises(OllamaAuthError):
        hook.version()  # plain httpx
    with pytest.raises(OllamaAuthError):
        hook.list_models()  # the official client, which reads OLLAMA_API_KEY


@pytest.mark.asyncio
async def test_the_workers_ollama_api_key_is_never_sent_by_the_async_clients(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", TOKEN)
    hook = _connection_hook(monkeypatch, guarded_emulator.url)
    try:
        with pytest.raises(OllamaAuthError):
            await hook.aversion()
        with pytest.raises(OllamaAuthError):
            await hook.aps()
    finally:
        await hook.aclose()


def test_a_connection_token_still_authenticates_while_ollama_api_key_is_set(
    monkeypatch: pytest.MonkeyPatch, guarded_emulator: OllamaEmulator
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "another-workers-key")
    hook = _connection_hook(monkeypatch, guarded_emulator.url, token=TOKEN)
    assert hook.version() == guarded_emulator.settings.version
    assert hook.list_models() == []


@pytest.mark.smoke
def test_a_missing_connection_is_an_ollama_error_that_says_how_to_define_it() -> None:
    hook = OllamaHook("ollama_nowhere")
    with pytest.raises(OllamaConnectionNotFoundError) as raised:
        hook.version()
    error = raised.value
    # Catchable as the provider's family and as what Airflow raised, which stays the cause.
    assert isinstance(error, OllamaError)
    assert isinstance(error, AirflowNotFoundException)
    assert isinstance(error.__cause__, AirflowNotFoundException)
    assert not isinstance(error.__cause__, OllamaError)
    message = str(error)
    assert "'ollama_nowhere'" in message
    assert "Admin > Connections" in message
    assert "AIRFLOW_CONN_OLLAMA_NOWHERE" in message
    assert '"conn_type": "ollama"' in message
    assert "secrets backend" in message


@pytest.mark.asyncio
async def test_a_missing_connection_is_the_same_error_on_the_async_path() -> None:
    hook = OllamaHook("ollama_nowhere")
    try:
        with pytest.raises(OllamaConnectionNotFoundError, match="AIRFLOW_CONN_OLLAMA_NOWHERE") as raised:
            await hook.aversion()
        assert isinstance(raised.value.__cause__, AirflowNotFoundException)
    finally:
        await hook.aclose()
