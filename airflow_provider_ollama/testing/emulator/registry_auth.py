"""A registry's Bearer challenge answered as Ollama answers it (server/auth.go, auth/auth.go).

On a 401 Ollama reads ``WWW-Authenticate: Bearer realm="...",service="...",scope="..."``, refuses a
realm on another host than the request's, and GETs the realm with ``service``, each ``scope``, ``ts``
and a random ``nonce`` added to its query, signed with the server's ``~/.ollama/id_ed25519``: the
``Authorization`` header is ``<public key>:<signature>`` over ``GET,<url>,<base64 of the hex sha256 of
an empty body>``. The realm answers ``{"token": ...}``, which later requests send as ``Bearer``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_ollama.testing.emulator import keypair
from airflow_provider_ollama.testing.emulator.registry_errors import transport_error

if TYPE_CHECKING:
    import httpx

#: ``base64(hex(sha256("")))``: the body hash every token request signs.
_EMPTY_BODY_HASH = base64.b64encode(hashlib.sha256(b"").hexdigest().encode()).decode()


class TokenError(Exception):
    """Getting a token failed; ``str()`` is Ollama's text for it."""


@dataclass(frozen=True)
class Challenge:
    """``registryChallenge``: what a 401's ``WWW-Authenticate`` header asks for."""

    realm: str
    service: str
    scope: str


def _value(header: str, key: str) -> str:
    """``getValue``: the quoted value after ``key=``, up to a quote followed by a comma (or the end)."""
    start = header.find(key + "=")
    if start < 0:
        return ""
    start += len(key) + 2
    end = start
    while end < len(header):
        if header[end] == '"':
            if end + 1 < len(header) and header[end + 1] != ",":
                end += 1
                continue
            break
        end += 1
    return header[start:end]


def parse_challenge(header: str) -> Challenge:
    """``parseRegistryChallenge``."""
    text = header.removeprefix("Bearer ")
    return Challenge(_value(text, "realm"), _value(text, "service"), _value(text, "scope"))


def token_url(challenge: Challenge, *, now: float | None = None, nonce: bytes | None = None) -> str:
    """``registryChallenge.URL``: the realm with service, scopes, ts and nonce (keys sorted, as
    Go's ``url.Values.Encode`` writes them)."""
    parts = urllib.parse.urlsplit(challenge.realm)
    values: dict[str, list[str]] = {}
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    values.setdefault("service", []).append(challenge.service)
    for scope in challenge.scope.split(" "):
        values.setdefault("scope", []).append(scope)
    values.setdefault("ts", []).append(str(int(time.time() if now is None else now)))
    raw_nonce = os.urandom(16) if nonce is None else nonce
    values.setdefault("nonce", []).append(base64.urlsafe_b64encode(raw_nonce).decode().rstrip("="))
    query = "&".join(
        f"{urllib.parse.quote_plus(key)}={urllib.parse.quote_plus(value)}"
        for key in sorted(values)
        for value in values[key]
    )
    return urllib.parse.urlunsplit(parts._replace(query=query))


def sign_request(url: str, key_path: Path) -> str:
    """``auth.Sign`` of a token request: ``<public key blob, base64>:<signature, base64>``."""
    try:
        pem = key_path.read_bytes()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise TokenError(f"open {key_path}: {reason}") from None
    try:
        seed, public_blob = keypair.load_private_key(pem)
    except keypair.KeyFileError as error:
        raise TokenError(str(error)) from None
    data = f"GET,{url},{_EMPTY_BODY_HASH}".encode()
    signature = keypair.sign(seed, data)
    return f"{base64.b64encode(public_blob).decode()}:{base64.b64encode(signature).decode()}"


def signed_data(url: str) -> bytes:
    """What a token request's signature covers (for the registry emulator's check)."""
    return f"GET,{url},{_EMPTY_BODY_HASH}".encode()


async def fetch_token(
    client: httpx.AsyncClient, challenge: Challenge, original_host: str, key_path: Path, user_agent: str
) -> str:
    """``getAuthorizationToken``: the realm's token for ``challenge`` (raises :class:`TokenError`)."""
    import httpx

    url = token_url(challenge)
    realm_host = urllib.parse.urlsplit(url).netloc
    if realm_host != original_host:
        raise TokenError(f'realm host "{realm_host}" does not match original host "{original_host}"')
    headers = {"Authorization": sign_request(url, key_path), "User-Agent": user_agent}
    try:
        response = await client.get(url, headers=headers)
    except httpx.HTTPError as error:
        raise TokenError(str(transport_error("GET", url, error))) from None
    body = response.content
    if response.status_code >= 400:
        raise TokenError(
            f"{response.status_code}: {body.decode(errors='replace')}" if body else str(response.status_code)
        )
    try:
        document = json.loads(body)
    except ValueError as error:
        raise TokenError(str(error)) from None
    return str(document.get("token") or "") if isinstance(document, dict) else ""
