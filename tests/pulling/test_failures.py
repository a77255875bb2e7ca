"""Which pull failures are permanent, read from the error text Ollama reports (Go's words, as in its source).

The operator tests cause the common ones for real against the emulator; these cover the other forms a
real Ollama prints (its pure-Go resolver names the DNS server, a CDN redirect quotes another host...).
"""

from __future__ import annotations

import pytest

from airflow_provider_ollama.pulling.failures import permanent_pull_failure

MANIFEST = 'pull model manifest: Get "https://registry.ollama.ai/v2/library/qwen3/manifests/0.6b": '


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        # Go's cgo resolver (hosts with an mdns entry in nsswitch.conf) and its own resolver (containers).
        (
            MANIFEST + "dial tcp: lookup registry.ollama.ai: no such host",
            "registry.ollama.ai could not be reached",
        ),
        (
            MANIFEST + "dial tcp: lookup registry.ollama.ai on 127.0.0.53:53: no such host",
            "its name does not resolve (no such host)",
        ),
        (
            MANIFEST + "dial tcp: lookup registry.ollama.ai on 127.0.0.11:53: server misbehaving",
            "its name does not resolve (server misbehaving)",
        ),
        (
            MANIFEST + "dial tcp: lookup registry.ollama.ai: Temporary failure in name resolution",
            "registry host registry.ollama.ai could not be reached",
        ),
        # A 401 whose challenge names no realm on the registry's own host: Ollama 0.33 sends no token.
        (
            'pull model manifest: realm host "" does not match original host "registry.ollama.ai"',
            "registry.ollama.ai refused the pull with HTTP 401",
        ),
        (
            MANIFEST + "dial tcp 104.21.75.227:443: connect: connection refused",
            "registry host 104.21.75.227:443 could not be reached: connection refused",
        ),
        (
            MANIFEST + "dial tcp 10.1.2.3:443: connect: no route to host",
            "could not be reached: no route to host",
        ),
        (
            MANIFEST + "tls: failed to verify certificate: x509: certificate signed by unknown authority",
            "registry host registry.ollama.ai could not be reached: the TLS handshake failed",
        ),
        (
            'Get "https://dd20bb891979d25aebc8bec07b2b3bbc.r2.cloudflarestorage.com/ollama/docker/registry/v2/'
            'blobs/sha256/aa/aabd/data": remote error: tls: handshake failure',
            "registry host dd20bb891979d25aebc8bec07b2b3bbc.r2.cloudflarestorage.com could not be reached",
        ),
        ('pull model manifest: 403: {"errors":[{"code":"DENIED"}]}', "refused the pull with HTTP 403"),
        ("pull model manifest: 400: bad name", "refused the pull with HTTP 400"),
        ("pull model manifest: unauthorized: access denied", "refused the pull with HTTP 401"),
        ("insecure protocol http", "speaks plain HTTP"),
    ],
)
def test_failures_that_waiting_cannot_fix_are_permanent_and_name_the_host(reason: str, expected: str) -> None:
    failure = permanent_pull_failure(reason, "qwen3:0.6b")
    assert failure is not None
    assert expected in failure.what


@pytest.mark.parametrize(
    "reason",
    [
        "pull model manifest: 503: service unavailable",
        "pull model manifest: 502: <html>bad gateway</html>",
        "pull model manifest: 429: too many requests",  # a rate limit passes with time
        'Get "https://registry.ollama.ai/v2/library/qwen3/blobs/sha256:aa": read tcp 10.0.0.2:51234->'
        "104.21.75.227:443: read: connection reset by peer",
        "max retries exceeded: unexpected EOF",
        'Get "https://registry.ollama.ai/v2/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        "digest mismatch, file must be downloaded again: want sha256:aa, got sha256:bb",
    ],
)
def test_stalls_resets_5xx_and_rate_limits_are_retried(reason: str) -> None:
    assert permanent_pull_failure(reason, "qwen3:0.6b") is None


def test_without_a_url_in_the_text_the_registry_is_the_models() -> None:
    failure = permanent_pull_failure("pull model manifest: 403: denied", "ghcr.example.com/team/model:1")
    assert failure is not None
    assert "registry ghcr.example.com refused" in failure.what
    assert "ollama signin" in failure.advice
