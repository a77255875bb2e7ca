"""A 1 GiB model layer streams through the CDN path with bounded server memory, at a useful rate."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.testing.registry.conftest import RegistryProcess

GIB = 1 << 30
MAX_RSS_GROWTH = 50 << 20

# One worker runs both tests, so the 1 GiB registry process starts once.
pytestmark = pytest.mark.xdist_group("registry-big-blob")


def _memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of a Linux process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status: this test needs Linux's /proc")


def test_one_gib_blob_streams_with_bounded_server_memory(big_registry_cli: RegistryProcess) -> None:
    process, url = big_registry_cli
    baseline_kib = _memory_kib(process.pid, "VmRSS")
    with httpx.Client(base_url=url, timeout=60) as client:
        layer = client.get("/v2/library/big/manifests/latest").json()["layers"][0]
        location = client.get(f"/v2/library/big/blobs/{layer['digest']}").headers["location"]
        hasher = hashlib.sha256()
        started = time.perf_counter()
        with client.stream("GET", location) as response:
            for chunk in response.iter_raw(1 << 20):
                hasher.update(chunk)
        elapsed = time.perf_counter() - started

    growth = (_memory_kib(process.pid, "VmHWM") - baseline_kib) * 1024
    print(
        f"\n1 GiB via the CDN path: {GIB / elapsed / 1e6:.0f} MB/s (client hashing), server RSS +{growth / 1e6:.1f} MB"
    )
    assert layer["size"] == GIB
    assert "sha256:" + hasher.hexdigest() == layer["digest"]
    assert growth < MAX_RSS_GROWTH


def test_a_range_deep_in_a_big_blob_is_served_at_once(big_registry_cli: RegistryProcess) -> None:
    _, url = big_registry_cli
    layer = httpx.get(f"{url}/v2/library/big/manifests/latest").json()["layers"][0]
    first = 900 << 20

    started = time.perf_counter()
    response = httpx.get(
        f"{url}/_cdn/blobs/{layer['digest']}", headers={"Range": f"bytes={first}-{first + 999}"}
    )
    elapsed = time.perf_counter() - started

    assert response.status_code == 206
    assert len(response.content) == 1000
    assert elapsed < 0.5
