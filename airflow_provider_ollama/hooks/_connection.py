"""Read an Airflow ``ollama`` connection into what a client needs: base URL, headers, timeout, TLS.

Every host form and extra is parsed here, in one place, so that the hook, its UI form and its
tests agree on what a connection means; a bad field fails fast with a message naming it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ollama.durations import DurationError, normalize_keep_alive
from airflow_provider_ollama.exceptions import OllamaConnectionConfigError

#: Port ``ollama serve`` listens on; used for plain-http hosts written without a port.
OLLAMA_DEFAULT_PORT = 11434
DEFAULT_REQUEST_TIMEOUT = 300.0
#: Longest wait for a TCP/TLS connection, whatever the request timeout: an unreachable server
#: should fail a task in seconds, not after the minutes a long generation is allowed.
MAX_CONNECT_TIMEOUT = 10.0
#: Longest wait for one readiness check (``GET /``, a model lookup), whatever the request timeout: a wait
#: for a server must keep to its own deadline, not sit out the time budget of a long generation.
MAX_CHECK_TIMEOUT = 10.0
DEFAULT_HOST = "127.0.0.1"

#: Extras the connection understands (the UI form's custom fields).
EXTRA_FIELDS = ("request_timeout", "verify_ssl", "extra_headers", "keep_alive")
_CONN_TYPE = "ollama"

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})
# Header values that authenticate; registered with the secret masker like the token.
_SENSITIVE_HEADER_RE = re.compile(r"auth|token|secret|key|password|cookie|session", re.IGNORECASE)


@dataclass(frozen=True)
class OllamaClientSettings:
    """Everything a client of one Ollama server needs; ``repr`` never shows the token or headers."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    verify_ssl: bool = True
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Default ``keep_alive`` for generate, chat, embed and load when the caller gives none.
    keep_alive: float | str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Headers for every request: the extra headers, then the bearer token (which wins)."""
        headers = dict(self.extra_headers)
        if self.token:
            for name in [name for name in headers if name.lower() == "authorization"]:
                del headers[name]
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @property
    def connect_timeout(self) -> float:
        return min(self.request_timeout, MAX_CONNECT_TIMEOUT)

    @property
    def check_timeout(self) -> float:
        """Seconds one readiness check may take: the request timeout, at most :data:`MAX_CHECK_TIMEOUT`."""
        return min(self.request_timeout, MAX_CHECK_TIMEOUT)

    def secret_values(self) -> list[str]:
        """Values that must never be shown: the token and authenticating header values."""
        secrets = [self.token] if self.token else []
        secrets += [
            value for name, value in self.extra_headers.items() if value and _SENSITIVE_HEADER_RE.search(name)
        ]
        return secrets


def build_base_url(host: str | None, port: int | None = None, *, conn_id: str | None = None) -> str:
    """The server's base URL, always with an explicit port, from a connection's host and port fields.

    Accepts ``http://h:11434``, ``https://h``, ``h``, ``h:port``, ``:port``, a path prefix behind a
    reverse proxy (``https://gw.example.com/ollama``) and IPv6 (``[::1]:11434``, ``http://[::1]``,
    bare ``::1``). A port written in the host wins over the port field; without either, https uses 443
    and http Ollama's own 11434. An empty host means 127.0.0.1, like the official client.
    """
    where = f"connection '{conn_id}'" if conn_id else "the Ollama base URL"
    text = (host or "").strip()
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme not in {"http", "https"}:
        raise OllamaConnectionConfigError(
            f"The host of {where} uses the scheme {scheme!r}; Ollama speaks http or https. "
            "Write the host as http://name:11434 or https://name."
        )
    rest = _bracket_bare_ipv6(rest)
    split = urllib.parse.urlsplit(f"{scheme}://{rest}")
    if "@" in split.netloc:
        raise OllamaConnectionConfigError(
            f"The host of {where} contains credentials (user:password@); remove them and put a "
            "bearer token in the connection's Password field instead."
        )
    if split.query or split.fragment:
        raise OllamaConnectionConfigError(
            f"The host of {where} has a query or fragment ({text!r}); give only scheme, host, port and path."
        )
    try:
        host_port = split.port
    except ValueError:
        raise OllamaConnectionConfigError(
            f"The host of {where} has an invalid port ({text!r}); use a number between 1 and 65535."
        ) from None
    if port is not None and not 0 < port < 65536:
        raise OllamaConnectionConfigError(f"The port of {where} is {port}; use a number between 1 and 65535.")
    name = split.hostname or DEFAULT_HOST
    if ":" in name:
        name = f"[{name}]"
    default_port = 443 if scheme == "https" else OLLAMA_DEFAULT_PORT
    final_port = host_port or port or default_port
    return f"{scheme}://{name}:{final_port}{split.path.rstrip('/')}"


def _bracket_bare_ipv6(rest: str) -> str:
    """``::1`` or ``fe80::1/prefix`` -> ``[::1]``: without brackets an IPv6 address cannot carry a port."""
    address, slash, path = rest.partition("/")
    if address.count(":") < 2 or address.startswith("["):
        return rest
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return rest
    return f"[{address}]{slash}{path}"


def settings_from_connection(
    *,
    conn_id: str,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: Mapping[str, Any],
    timeout: float | None = None,
) -> OllamaClientSettings:
    """Settings from a connection's fields and its parsed extra; ``timeout`` overrides request_timeout."""
    request_timeout = _positive_seconds(_extra_value(extra, "request_timeout"), conn_id=conn_id)
    if timeout is not None:
        request_timeout = _positive_seconds(timeout, conn_id=conn_id, field_name="timeout")
    return OllamaClientSettings(
        base_url=build_base_url(host, port, conn_id=conn_id),
        token=password or None,
        request_timeout=request_timeout if request_timeout is not None else DEFAULT_REQUEST_TIMEOUT,
        verify_ssl=_flag(_extra_value(extra, "verify_ssl"), conn_id=conn_id),
        extra_headers=_headers(_extra_value(extra, "extra_headers"), conn_id=conn_id),
        keep_alive=_keep_alive(_extra_value(extra, "keep_alive"), conn_id=conn_id),
    )


def settings_for_url(base_url: str, *, timeout: float | None = None) -> OllamaClientSettings:
    """Settings for a server named by URL alone (a per-task server): no token, defaults elsewhere."""
    seconds = _positive_seconds(timeout, conn_id=None, field_name="timeout")
    return OllamaClientSettings(
        base_url=build_base_url(base_url),
        request_timeout=seconds if seconds is not None else DEFAULT_REQUEST_TIMEOUT,
    )


def missing_connection_message(conn_id: str) -> str:
    """What to tell a user whose connection id does not exist: the three ways of defining one."""
    example = json.dumps({"conn_type": _CONN_TYPE, "host": "http://ollama:11434"})
    return (
        f"There is no Airflow connection {conn_id!r}. Define it in the UI (Admin > Connections > Add, "
        f"type Ollama, Host = the server's URL), as an environment variable on every worker and the "
        f"triggerer (AIRFLOW_CONN_{conn_id.upper()}='{example}'), or in your secrets backend; or pass "
        "the id of an existing one as ollama_conn_id."
    )


def unknown_extra_keys(extra: Mapping[str, Any]) -> list[str]:
    """Keys of the extra this connection type does not use (usually typos such as ``timeout``)."""
    known = set(EXTRA_FIELDS) | {f"extra__{_CONN_TYPE}__{name}" for name in EXTRA_FIELDS}
    return sorted(key for key in extra if key not in known)


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """The bare key wins; the ``extra__ollama__<name>`` form is what older UIs stored."""
    value = extra.get(name)
    if value is None or value == "":
        value = extra.get(f"extra__{_CONN_TYPE}__{name}")
    return None if value == "" else value


def _positive_seconds(
    value: Any, *, conn_id: str | None, field_name: str = "request_timeout"
) -> float | None:
    if value is None:
        return None
    where = f" of connection '{conn_id}'" if conn_id else ""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise OllamaConnectionConfigError(
            f"{field_name}{where} must be a positive number of seconds, not {value!r}."
        )
    return seconds


def _flag(value: Any, *, conn_id: str) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise OllamaConnectionConfigError(
        f"verify_ssl of connection '{conn_id}' must be true or false, not {value!r}."
    )


def _headers(value: Any, *, conn_id: str) -> dict[str, str]:
    if value is None:
        return {}
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(name, str) and name for name in parsed):
        # Never echo the value: it may hold credentials.
        raise OllamaConnectionConfigError(
            f"extra_headers of connection '{conn_id}' must be a JSON object of header names to "
            'values, such as {"X-Team": "ml"}.'
        )
    headers: dict[str, str] = {}
    for name, header_value in parsed.items():
        if isinstance(header_value, bool) or not isinstance(header_value, str | int | float):
            raise OllamaConnectionConfigError(
                f"extra_headers of connection '{conn_id}': the value of {name!r} must be a string."
            )
        headers[name] = str(header_value)
    return headers


def _keep_alive(value: Any, *, conn_id: str) -> float | str | None:
    if value is None:
        return None
    try:
        return normalize_keep_alive(value)
    except DurationError as error:
        raise OllamaConnectionConfigError(f"Connection '{conn_id}': {error}") from None
