"""Test helper for shared-server tests: an ``ollama`` connection in the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest


def use_ollama_connection(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    server: str | int,
    *,
    token: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Define connection ``conn_id`` for this test: ``server`` is a URL, or a port on 127.0.0.1."""
    connection: dict[str, Any] = {"conn_type": "ollama"}
    if extra is not None:
        connection["extra"] = extra
    if isinstance(server, int):
        connection.update(host="http://127.0.0.1", port=server)
    else:
        connection["host"] = server
    if token is not None:
        connection["password"] = token
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
