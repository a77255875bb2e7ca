"""How an ``ollama`` connection's host, port, password and extras become client settings."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ollama.exceptions import OllamaConnectionConfigError
from airflow_provider_ollama.hooks._connection import (
    DEFAULT_REQUEST_TIMEOUT,
    MAX_CONNECT_TIMEOUT,
    OllamaClientSettings,
    build_base_url,
    settings_for_url,
    settings_from_connection,
    unknown_extra_keys,
)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://ollama:11434", None, "http://ollama:11434"),
        ("https://ollama.example.com", None, "https://ollama.example.com:443"),
        ("http://ollama", None, "http://ollama:11434"),
        ("ollama", None, "http://ollama:11434"),
        ("ollama:8080", None, "http://ollama:8080"),
        (":8080", None, "http://127.0.0.1:8080"),
        ("", None, "http://127.0.0.1:11434"),
        (None, 9000, "http://127.0.0.1:9000"),
        ("ollama", 9000, "http://ollama:9000"),
        ("https://gw.example.com", 8443, "https://gw.example.com:8443"),
        ("ollama:8080", 9000, "http://ollama:8080"),  # the host's own port wins
        ("https://gw.example.com/ollama", None, "https://gw.example.com:443/ollama"),
        ("https://gw.example.com/ollama/", None, "https://gw.example.com:443/ollama"),
        ("http://gw:8080/a/b/", None, "http://gw:8080/a/b"),
        ("gw.example.com/ollama", None, "http://gw.example.com:11434/ollama"),
        ("[::1]:11434", None, "http://[::1]:11434"),
        ("http://[::1]", None, "http://[::1]:11434"),
        ("https://[fe80::1]", None, "https://[fe80::1]:443"),
        ("[::1]", 9000, "http://[::1]:9000"),
        ("::1", None, "http://[::1]:11434"),
        ("::1/prefix", 9000, "http://[::1]:9000/prefix"),
        ("HTTP://Ollama.Example.COM", None, "http://ollama.example.com:11434"),
        ("  http://ollama:11434  ", None, "http://ollama:11434"),
    ],
)
def test_build_base_url_accepts_every_host_form(host: str | None, port: int | None, expected: str) -> None:
    assert build_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("ftp://ollama", None, "scheme 'ftp'"),
        ("grpc://ollama:11434", None, "http or https"),
        ("http://user:secret@ollama", None, "contains credentials"),
        ("http://ollama:notaport", None, "invalid port"),
        ("http://ollama:70000", None, "invalid port"),
        ("http://ollama?x=1", None, "query or fragment"),
        ("ollama", 0, "port"),
        ("ollama", 70000, "between 1 and 65535"),
    ],
)
def test_build_base_url_rejects_what_cannot_name_a_server(host: str, port: int | None, message: str) -> None:
    with pytest.raises(OllamaConnectionConfigError, match=message):
        build_base_url(host, port, conn_id="my_ollama")


def test_build_base_url_error_names_the_connection_but_never_the_credentials() -> None:
    with pytest.raises(OllamaConnectionConfigError) as raised:
        build_base_url("http://admin:hunter22@ollama", conn_id="my_ollama")
    assert "my_ollama" in str(raised.value)
    assert "hunter22" not in str(raised.value)
    assert "Password field" in str(raised.value)


def _settings(**overrides: object) -> OllamaClientSettings:
    fields: dict[str, object] = {
        "conn_id": "ollama_test",
        "host": "http://ollama:11434",
        "port": None,
        "password": None,
        "extra": {},
    }
    fields.update(overrides)
    return settings_from_connection(**fields)  # type: ignore[arg-type]


def test_a_bare_connection_gets_the_defaults() -> None:
    settings = _settings()
    assert settings == OllamaClientSettings(base_url="http://ollama:11434")
    assert settings.request_timeout == DEFAULT_REQUEST_TIMEOUT
    assert settings.verify_ssl is True
    assert settings.keep_alive is None
    assert settings.headers == {}


def test_the_password_becomes_a_bearer_token_header() -> None:
    assert _settings(password="s3cret-token").headers == {"Authorization": "Bearer s3cret-token"}


def test_the_token_replaces_an_authorization_extra_header() -> None:
    settings = _settings(password="s3cret-token", extra={"extra_headers": {"authorization": "Basic x"}})
    assert settings.headers == {"Authorization": "Bearer s3cret-token"}


@pytest.mark.parametrize(
    "headers",
    [{"X-Team": "ml", "X-Num": 7}, json.dumps({"X-Team": "ml", "X-Num": 7})],
    ids=["object", "json-string"],
)
def test_extra_headers_accept_an_object_or_a_json_string(headers: object) -> None:
    assert _settings(extra={"extra_headers": headers}).headers == {"X-Team": "ml", "X-Num": "7"}


@pytest.mark.parametrize("headers", ["not json", "[1, 2]", '{"X": {"nested": 1}}', '{"": "x"}', 5])
def test_extra_headers_that_are_not_an_object_of_strings_are_rejected(headers: object) -> None:
    with pytest.raises(OllamaConnectionConfigError, match="extra_headers of connection 'ollama_test'"):
        _settings(extra={"extra_headers": headers})


def test_extra_headers_error_does_not_echo_the_value() -> None:
    with pytest.raises(OllamaConnectionConfigError) as raised:
        _settings(extra={"extra_headers": "Authorization: Bearer leaked-token-value"})
    assert "leaked-token-value" not in str(raised.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"request_timeout": 30}, 30.0),
        ({"request_timeout": "2.5"}, 2.5),
        ({"request_timeout": None}, DEFAULT_REQUEST_TIMEOUT),
        ({"request_timeout": ""}, DEFAULT_REQUEST_TIMEOUT),
        ({"extra__ollama__request_timeout": "12"}, 12.0),  # the prefixed key older forms stored
    ],
)
def test_request_timeout_is_read_from_the_extra(extra: dict[str, object], expected: float) -> None:
    assert _settings(extra=extra).request_timeout == expected


@pytest.mark.parametrize("value", [0, -1, "soon", True, float("inf")])
def test_request_timeout_must_be_positive_seconds(value: object) -> None:
    with pytest.raises(OllamaConnectionConfigError, match="request_timeout of connection 'ollama_test'"):
        _settings(extra={"request_timeout": value})


def test_the_hook_timeout_overrides_the_connection() -> None:
    assert _settings(extra={"request_timeout": 30}, timeout=2).request_timeout == 2.0


def test_connecting_gives_up_sooner_than_a_long_request() -> None:
    assert _settings().connect_timeout == MAX_CONNECT_TIMEOUT
    assert _settings(extra={"request_timeout": 0.5}).connect_timeout == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        (True, True),
        (False, False),
        ("false", False),
        ("True", True),
        ("0", False),
        ("on", True),
    ],
)
def test_verify_ssl_reads_booleans_and_their_words(value: object, expected: bool) -> None:
    assert _settings(extra={"verify_ssl": value}).verify_ssl is expected


def test_verify_ssl_rejects_other_values() -> None:
    with pytest.raises(OllamaConnectionConfigError, match=r"verify_ssl .* true or false"):
        _settings(extra={"verify_ssl": "maybe"})


@pytest.mark.parametrize(
    ("value", "expected"), [("5m", "5m"), ("300", 300.0), (-1, -1.0), ("0", 0.0), ("1h30m", "1h30m")]
)
def test_keep_alive_is_validated_and_normalised(value: object, expected: object) -> None:
    assert _settings(extra={"keep_alive": value}).keep_alive == expected


def test_keep_alive_that_a_server_would_reject_fails_early() -> None:
    with pytest.raises(
        OllamaConnectionConfigError, match=r"Connection 'ollama_test': keep_alive '5 minutes'"
    ):
        _settings(extra={"keep_alive": "5 minutes"})


def test_unknown_extra_keys_are_reported() -> None:
    extra = {"timeout": 5, "request_timeout": 5, "extra__ollama__keep_alive": "5m", "verify": False}
    assert unknown_extra_keys(extra) == ["timeout", "verify"]


def test_settings_repr_hides_the_token_and_headers() -> None:
    settings = _settings(password="s3cret-token", extra={"extra_headers": {"X-Api-Key": "k3y-value"}})
    assert "s3cret-token" not in repr(settings)
    assert "k3y-value" not in repr(settings)


def test_secret_values_are_the_token_and_authenticating_headers() -> None:
    settings = _settings(
        password="s3cret-token",
        extra={"extra_headers": {"X-Api-Key": "k3y-value", "X-Team": "ml", "Cookie": "session=abc"}},
    )
    assert sorted(settings.secret_values()) == ["k3y-value", "s3cret-token", "session=abc"]


def test_settings_for_url_reads_no_connection_and_keeps_defaults() -> None:
    settings = settings_for_url("http://127.0.0.1:40001", timeout=7)
    assert settings == OllamaClientSettings(base_url="http://127.0.0.1:40001", request_timeout=7.0)
