"""The errors of registry requests, worded as Ollama's registry code words them.

Kept apart from the client so that the token exchange (``registry_auth``) and the client can both
word a request that never got an answer the same way without importing each other.
"""

from __future__ import annotations

import re
import urllib.parse


class RegistryError(Exception):
    """A registry request failed; ``str()`` is the text Ollama would report."""


class DirectURLError(RegistryError):
    """The registry answered a blob GET without a usable direct URL (Ollama does not retry this)."""


class InsecureProtocolError(RegistryError):
    """An ``http://`` name without ``insecure: true`` (Ollama's ``errInsecureProtocol``)."""

    def __init__(self) -> None:
        super().__init__("insecure protocol http")


def transport_error(method: str, url: str, error: Exception) -> RegistryError:
    """Go's ``*url.Error`` text for a request that never got an answer."""
    import httpx

    go_method = method[:1].upper() + method[1:].lower()
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = f"{parsed.hostname}:{port}"
    text = str(error)
    if isinstance(error, httpx.ConnectError):
        if "name resolution" in text.lower() or "name or service not known" in text.lower():
            reason = f"dial tcp: lookup {parsed.hostname}: no such host"
        elif "certificate verify failed" in text.lower():
            # crypto/tls's CertificateVerificationError around x509.UnknownAuthorityError.
            reason = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        elif alert := re.search(r"alert ([a-z ]+)", text.lower()):
            reason = f"remote error: tls: {alert.group(1).strip()}"  # the server refused the handshake
        elif "ssl" in text.lower() or "wrong version number" in text.lower():
            reason = "http: server gave HTTP response to HTTPS client"
        else:
            reason = f"dial tcp {address}: connect: connection refused"
    elif isinstance(error, httpx.TimeoutException):
        reason = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    elif isinstance(error, httpx.RemoteProtocolError):
        reason = "EOF"
    else:
        reason = text or type(error).__name__
    return RegistryError(f'{go_method} "{url}": {reason}')
