"""Fault switches and counters of an emulator running in another process, over ``/_emulator/``.

They mirror :class:`Faults` and :class:`Stats` method for method, so a test written against the
in-thread emulator works unchanged against ``OllamaEmulatorProcess``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from airflow_provider_ollama.testing.emulator.fault_switches import FaultSwitches

_TIMEOUT_S = 10.0
# Loopback control traffic must never go through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorControlError(RuntimeError):
    """A control request to the emulator failed (it stopped, or refused the switch)."""


def control_request(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """Call a ``/_emulator/`` endpoint and return its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's own http:// address
        f"{base_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=_TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", errors="replace")
        raise EmulatorControlError(f"{method} {path} failed with {error.code}: {detail}") from None
    except OSError as error:
        raise EmulatorControlError(f"{method} {path} failed: {error}") from None


class RemoteFaults(FaultSwitches):
    """:class:`~airflow_provider_ollama.testing.emulator.faults.Faults` of an emulator process."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url

    def configure(self, spec: dict[str, Any]) -> None:
        control_request(self._url, "POST", "/_emulator/faults", spec)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = control_request(self._url, "GET", "/_emulator/faults")
        return described


class RemoteStats:
    """:class:`~airflow_provider_ollama.testing.emulator.stats.Stats` of an emulator process."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url

    def snapshot(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = control_request(self._url, "GET", "/_emulator/stats")
        return snapshot

    def requests_to(self, method: str, path: str) -> int:
        from airflow_provider_ollama.testing.emulator.stats import route_key

        return int(self.snapshot()["requests"].get(route_key(method, path), 0))

    def counter(self, name: str) -> int:
        return int(self.snapshot()["counters"].get(name, 0))

    def reset(self) -> None:
        control_request(self._url, "POST", "/_emulator/stats/reset")
