"""Suite-wide settings: an isolated Airflow home per test process, and loopback-only networking.

The environment is set at import time, before any test module imports Airflow, because Airflow
reads its configuration once on first import.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
# dag.test() only runs DAGs from the DAGs folder, which must hold nothing but DAG files:
# tests.support.dag_runs.install_dag_file copies the files a test runs into this one.
(_AIRFLOW_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_AIRFLOW_HOME / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Never let a developer's own credentials or servers leak into the suite.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "*",
        # The registry emulators speak plain HTTP on loopback: configured once, as a deployment would.
        "AIRFLOW__OLLAMA__INSECURE_REGISTRIES": "127.0.0.1",
    }
)
for _variable in ("OLLAMA_HOST", "OLLAMA_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_variable, None)

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _check_loopback(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConnectionRefusedError(
            f"the test suite only talks to 127.0.0.1; a test tried to reach {host!r}. "
            "Point the code under test at a local emulator or moto server."
        )


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_loopback(self, address)
    _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_loopback(self, address)
    return _original_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """This test process's AIRFLOW_HOME (a temp dir, one per xdist worker)."""
    return _AIRFLOW_HOME


@pytest.fixture(autouse=True)
def _no_cached_object_stores() -> None:
    """Start every test without Airflow's cached object-storage file systems.

    Airflow keeps one file system per (protocol, connection id) for the life of the process, built from
    the connection as it was first read. Tests point one connection id at different servers (each
    module or package its own moto), so a cached one would reach a server that is gone.
    """
    store = sys.modules.get("airflow.sdk.io.store")
    if store is not None:
        store._STORE_CACHE.clear()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``xdist_group`` marks group again under ``--dist loadgroup`` (pytest-xdist 3.8 with pytest 9.2).

    xdist groups tests by a ``@<group>`` suffix it appends to each marked item's node id, through the
    private ``item._nodeid``; pytest 9.2 keeps the node id in ``item._id`` and ignores that attribute. So
    every group was silently spread over all workers: tests meant to share a session's expensive fixture
    ran it once per worker, and the tests that start whole Airflow deployments ran side by side on two
    cores. Where the suffix is missing, this adds it the way pytest 9.2 stores node ids.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(groups))}")
