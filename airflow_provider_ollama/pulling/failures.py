"""Pull failures that retrying cannot fix, recognised in the words Ollama reports them with.

Ollama passes a registry's failure on as Go's error text (``dial tcp: lookup <host>: no such host``,
``tls: failed to verify certificate: ...``, ``pull model manifest: 403: <body>``). A name that does not
resolve, a TLS handshake that fails, a refused connection or a 4xx answer stay that way however often the
pull is repeated; stalls, dropped connections, 5xx and 429 answers pass with time, so only those are retried.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.registries import SETTING

_URL = re.compile(r'\b(?:Get|Head|Post|Put) "(?P<url>[^"]+)"')
# Go's *net.DNSError: "lookup <host>[ on <resolver>]: <why>" (no such host, server misbehaving...).
_LOOKUP = re.compile(r"\blookup (?P<host>[^\s:]+)(?: on \S+)?: (?P<why>[^\n]+)")
_UNREACHABLE = re.compile(
    r"\bdial tcp (?P<address>\S+): connect: (?P<why>connection refused|no route to host|network is unreachable)"
)
_TLS = re.compile(r"\b(?:tls|x509): ")
_PLAIN_HTTP = ("insecure protocol", "server gave http response to https client")
# makeRequestWithRetry's "<status>: <body>" for an answer >= 400 other than 404 (that is a missing model).
_REGISTRY_STATUS = re.compile(r"(?:^|: )(?P<status>4\d\d): ")
_UNAUTHORIZED = "unauthorized: access denied"
# getAuthorizationToken's refusal of a 401's challenge whose realm is on another host (or missing).
_FOREIGN_REALM = re.compile(r'realm host "[^"]*" does not match original host "(?P<host>[^"]+)"')
_TOO_MANY_REQUESTS = 429


@dataclass(frozen=True)
class PermanentPullFailure:
    """A pull failure retrying cannot fix: what happened (naming the host) and what to do about it."""

    what: str
    advice: str


def permanent_pull_failure(reason: str, model: str) -> PermanentPullFailure | None:
    """The permanent failure Ollama's error text ``reason`` describes for a pull of ``model``; None when
    it may pass with time (a stall, a reset, a 5xx) or is not the registry's."""
    lowered = reason.lower()
    host = _host_in(reason) or ModelName.parse(model).host
    if any(words in lowered for words in _PLAIN_HTTP):
        return PermanentPullFailure(
            f"the registry {host} speaks plain HTTP",
            f"Add {host} to {SETTING} to pull from it over plain HTTP (or pass insecure=True to this pull).",
        )
    if lookup := _LOOKUP.search(reason):
        return PermanentPullFailure(
            f"the registry host {lookup['host']} could not be reached: its name does not resolve "
            f"({lookup['why'].strip()})",
            "Check the host in the model name (names without one come from registry.ollama.ai), and the "
            "Ollama server's DNS and internet access. Without internet, pull from a registry the server "
            "can reach, or restore the model from the S3 model cache (cache=).",
        )
    if unreachable := _UNREACHABLE.search(reason):
        return PermanentPullFailure(
            f"the registry host {unreachable['address']} could not be reached: {unreachable['why']}",
            "Check the registry's host and port in the model name, and that the Ollama server may connect "
            "there (firewall; a proxy goes in the server's HTTPS_PROXY).",
        )
    if _TLS.search(reason):
        return PermanentPullFailure(
            f"the registry host {host} could not be reached: the TLS handshake failed",
            "For a registry with a private CA, give the Ollama server that CA certificate (its system trust "
            f"store, or SSL_CERT_FILE in its environment); a plain-HTTP registry goes in {SETTING}.",
        )
    status_match = _REGISTRY_STATUS.search(reason)
    unauthorized = _UNAUTHORIZED in lowered or _FOREIGN_REALM.search(reason) is not None
    status = int(status_match["status"]) if status_match else 401 if unauthorized else None
    if status is not None and status != _TOO_MANY_REQUESTS:
        credentials = (
            " For a private registry the Ollama server needs access (`ollama signin`, or its key added "
            "to the registry)."
            if status in {401, 403}
            else ""
        )
        return PermanentPullFailure(
            f"the registry {host} refused the pull with HTTP {status}",
            f"Check the model's name and tag.{credentials}",
        )
    return None


def _host_in(reason: str) -> str | None:
    """``host[:port]`` of the first URL Ollama's text quotes (where a redirect led, e.g. a CDN)."""
    match = _URL.search(reason)
    return urllib.parse.urlsplit(match["url"]).netloc or None if match else None
