"""A handle on a real Ollama server that tests run against instead of the emulator.

It has the emulator handle's address attributes, so a test written for ``ollama_server`` runs
against either; asking it for fault injection fails with a message saying how to get the emulator.
"""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlsplit

UNSET_HINT = "fault injection needs the emulator: unset OLLAMA_TEST_SERVER_URL"


class FaultInjectionUnavailableError(RuntimeError):
    """Raised when a test asks a real Ollama server for emulator-only switches."""


class ExternalOllamaServer:
    """A running Ollama server named by URL (``OLLAMA_TEST_SERVER_URL``); never started or stopped here."""

    is_emulator = False

    def __init__(self, url: str) -> None:
        text = url.strip().rstrip("/")
        if "://" not in text:
            text = f"http://{text}"
        parts = urlsplit(text)
        if not parts.hostname:
            raise ValueError(f"OLLAMA_TEST_SERVER_URL={url!r} is not a URL; use e.g. http://127.0.0.1:11434")
        self.url = text
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host = parts.netloc

    def __repr__(self) -> str:
        return f"ExternalOllamaServer({self.url!r})"

    def _unavailable(self) -> NoReturn:
        raise FaultInjectionUnavailableError(UNSET_HINT)

    @property
    def faults(self) -> NoReturn:
        self._unavailable()

    @property
    def stats(self) -> NoReturn:
        self._unavailable()
