"""``python -m airflow_provider_ollama.testing.registry`` serves until SIGTERM/SIGINT and exits 0."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_provider_ollama.testing.registry import run_registry_cli
from airflow_provider_ollama.testing.registry.command import parse_size

if TYPE_CHECKING:
    from tests.testing.registry.conftest import RegistryProcess, StartRegistry


@pytest.fixture
def registry_process(start_registry_cli: StartRegistry) -> RegistryProcess:
    return start_registry_cli()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly_on_signal(
    registry_process: RegistryProcess, stop_signal: signal.Signals
) -> None:
    process, url = registry_process
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{url}/v2/library/tiny/manifests/latest").status_code == 200

    process.send_signal(stop_signal)

    assert process.wait(10) == 0


def test_cli_serves_a_big_model_when_asked(start_registry_cli: StartRegistry) -> None:
    _, url = start_registry_cli("--big-size", "3MiB", "--no-default-models")

    models = httpx.get(f"{url}/_emulator/models").json()["models"]
    manifest = httpx.get(f"{url}/v2/library/big/manifests/latest").json()

    assert models == ["library/big:latest"]
    assert manifest["layers"][0]["size"] == 3 << 20


def test_cli_starts_quickly(start_registry_cli: StartRegistry) -> None:
    started = time.monotonic()
    start_registry_cli()
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"registry CLI took {elapsed:.1f} s to listen"


@pytest.mark.parametrize(
    ("text", "size"), [("1048576", 1 << 20), ("512KiB", 512 << 10), ("256MiB", 256 << 20), ("2G", 2 << 30)]
)
def test_parse_size_reads_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"e\.g\. 256MiB"):
        parse_size("lots")


def test_cli_entry_point_is_importable_for_the_shared_console_script() -> None:
    assert callable(run_registry_cli)


def test_registry_package_never_imports_airflow() -> None:
    probe = "import sys, airflow_provider_ollama.testing.registry; print('airflow' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "False"
