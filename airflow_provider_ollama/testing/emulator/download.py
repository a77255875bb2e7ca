"""Resumable blob downloads the way Ollama's downloader does them.

A blob is fetched in ranged parts (at least 100 MB, at most 16 parts) from the registry's direct URL
into ``blobs/sha256-<hex>-partial``; each part's progress is saved in a ``-partial-<N>`` JSON file,
so a pull that is interrupted (client gone, server killed) continues where it stopped. Stalled parts
are retried, failed ones retried with exponential backoff, as in Ollama; all waits scale with
``settings.pull_time_scale``. Concurrent pulls of one digest share one download.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.registry_client import RegistryClient
from airflow_provider_ollama.testing.emulator.registry_errors import (
    DirectURLError,
    RegistryError,
    transport_error,
)
from airflow_provider_ollama.testing.emulator.transfer import (
    MAX_RETRIES,
    PROGRESS_INTERVAL_S,
    part_size,
    progress_event,
)

if TYPE_CHECKING:
    import httpx

    from airflow_provider_ollama.testing.emulator.state import EmulatorState

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")

#: Ollama gives up on a stalled part after 30 s without a byte and retries it.
STALL_SECONDS = 30.0
#: Ollama's budget for obtaining the direct URL of a blob, retrying with backoff.
DIRECT_URL_SECONDS = 30.0
#: The User-Agent of Go's default HTTP client, which fetches the parts from the direct URL.
GO_HTTP_USER_AGENT = "Go-http-client/1.1"


class _StalledError(Exception):
    pass


@dataclass
class _Part:
    n: int
    offset: int
    size: int
    completed: int = 0

    @property
    def starts_at(self) -> int:
        return self.offset + self.completed

    def document(self) -> dict[str, int]:
        return {"N": self.n, "Offset": self.offset, "Size": self.size, "Completed": self.completed}


class BlobDownload:
    """One blob being downloaded into the store."""

    def __init__(self, state: EmulatorState, registry: RegistryClient, digest: str) -> None:
        self.state = state
        self.registry = registry
        self.digest = digest
        self.path = state.store.blob_path(digest)
        self.partial = Path(f"{self.path}-partial")
        self.parts: list[_Part] = []
        self.total = 0
        self.task: asyncio.Task[None] | None = None
        self.references = 0
        self.scale = state.settings.pull_time_scale
        #: Set once :meth:`prepare` has finished, so pulls joining the download can follow it.
        self.prepared = asyncio.Event()
        self.prepare_error: BaseException | None = None

    @property
    def completed(self) -> int:
        return sum(part.completed for part in self.parts)

    def _part_file(self, part: _Part) -> Path:
        return Path(f"{self.partial}-{part.n}")

    def _save_part(self, part: _Part) -> None:
        self._part_file(part).write_bytes(gojson.dumps_line(part.document()))

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """Resume from saved parts, or ask the registry for the size and plan new parts."""
        for file in sorted(self.path.parent.glob(f"{self.path.name}-partial-*")):
            try:
                saved = json.loads(file.read_bytes())
            except (OSError, ValueError) as error:
                raise RegistryError(str(error)) from None  # Ollama's Prepare fails on a bad part file
            part = _Part(
                int(saved.get("N", 0)),
                int(saved.get("Offset", 0)),
                int(saved.get("Size", 0)),
                int(saved.get("Completed", 0)),
            )
            self.parts.append(part)
        self.parts.sort(key=lambda part: part.n)
        if self.parts:
            self.total = sum(part.size for part in self.parts)
            return
        self.total = await self.registry.blob_size(client, self.digest)
        size = part_size(self.total)
        offset = 0
        while offset < self.total:
            part = _Part(len(self.parts), offset, min(size, self.total - offset))
            self._save_part(part)
            self.parts.append(part)
            offset += part.size
        _log.info("downloading %s in %d part(s)", self.digest[7:19], len(self.parts))

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"download-{self.digest[7:19]}")

    async def _run(self) -> None:
        try:
            async with self.registry.session() as client:
                fd = os.open(self.partial, os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    os.ftruncate(fd, self.total)
                    direct_url = await self._direct_url(client)
                    pending = [part for part in self.parts if part.completed < part.size]
                    await _all_or_nothing(
                        [self._download_part(client, fd, direct_url, part) for part in pending]
                    )
                finally:
                    os.close(fd)
            for part in self.parts:
                self._part_file(part).unlink(missing_ok=True)
            os.replace(self.partial, self.path)
            self.state.stats.add("blobs_downloaded")
        finally:
            self.state.downloads.pop(self.digest, None)

    async def _direct_url(self, client: httpx.AsyncClient) -> str:
        deadline = time.monotonic() + DIRECT_URL_SECONDS * self.scale
        attempt = 0
        while True:
            try:
                return await self.registry.blob_location(client, self.digest)
            except DirectURLError:
                raise
            except RegistryError as error:
                attempt += 1
                delay = min(attempt * attempt * 0.01, 10.0) * random.uniform(0.5, 1.5)  # noqa: S311
                _log.warning("failed to get direct URL; backing off and retrying: %s", error)
                if time.monotonic() + delay > deadline:
                    raise RegistryError("context deadline exceeded") from None
                await asyncio.sleep(delay)

    async def _download_part(self, client: httpx.AsyncClient, fd: int, url: str, part: _Part) -> None:
        """Ollama's retry loop for one part: a stall is retried without counting; any other failure
        waits 2^try seconds (after the last try too) and, after six, ends the pull."""
        failures = 0
        while True:
            try:
                await self._download_chunk(client, fd, url, part)
                return
            except _StalledError:
                _log.info(
                    "%s part %d stalled; retrying. If this persists, press ctrl-c to exit, then 'ollama pull' "
                    "to find a faster connection.",
                    self.digest[7:19],
                    part.n,
                )
            except RegistryError as error:
                sleep = 2**failures * self.scale
                _log.info(
                    "%s part %d attempt %d failed: %s, retrying in %s",
                    self.digest[7:19],
                    part.n,
                    failures,
                    error,
                    gojson.format_duration(sleep),
                )
                await asyncio.sleep(sleep)
                failures += 1
                if failures >= MAX_RETRIES:
                    raise RegistryError(f"max retries exceeded: {error}") from None

    async def _download_chunk(self, client: httpx.AsyncClient, fd: int, url: str, part: _Part) -> None:
        """``downloadChunk``: copy the rest of the part from the response, whatever its status (Ollama
        does not look at it). A body that ends early is ``EOF`` and the part starts again from where
        it was; a connection cut mid-body is ``unexpected EOF`` and keeps what arrived."""
        import httpx

        stall_s = STALL_SECONDS * self.scale
        start = part.completed
        headers = {
            "Range": f"bytes={part.starts_at}-{part.offset + part.size - 1}",
            "User-Agent": GO_HTTP_USER_AGENT,
        }
        try:
            request = client.build_request("GET", url, headers=headers)
            response = await asyncio.wait_for(client.send(request, stream=True), stall_s)
        except asyncio.TimeoutError:
            raise _StalledError() from None
        except httpx.HTTPError as error:
            raise transport_error("GET", url, error) from None
        try:
            chunks = response.aiter_raw()
            while part.completed < part.size:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), stall_s)
                except StopAsyncIteration:
                    part.completed = start  # io.EOF: the progress of this attempt is rolled back
                    raise RegistryError("EOF") from None
                except asyncio.TimeoutError:
                    raise _StalledError() from None
                except httpx.HTTPError:
                    raise RegistryError("unexpected EOF") from None
                data = chunk[: part.size - part.completed]
                os.pwrite(fd, data, part.starts_at)
                part.completed += len(data)
                self.state.stats.add("bytes_downloaded", len(data))
        finally:
            self._save_part(part)
            with contextlib.suppress(Exception):
                await response.aclose()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Progress lines about every 60 ms until the download ends (``blobDownload.Wait``: none after
        the end, so a blob fetched in under 60 ms shows no progress line at all)."""
        await self.prepared.wait()
        if self.prepare_error is not None:
            raise self.prepare_error
        assert self.task is not None
        self.references += 1
        try:
            while not self.task.done():
                await asyncio.wait({self.task}, timeout=PROGRESS_INTERVAL_S)
                if not self.task.done():
                    yield progress_event("pulling", self.digest, self.total, self.completed)
            if self.task.cancelled():
                raise RegistryError("context canceled")
            error = self.task.exception()
            if error is not None:
                raise error if isinstance(error, RegistryError) else RegistryError(str(error))
        finally:
            self.references -= 1
            if self.references == 0 and not self.task.done():
                # Nobody waits any more (the client went away): stop, keeping the parts for a resume.
                self.task.cancel()


async def _all_or_nothing(jobs: list[Any]) -> None:
    """Run coroutines concurrently; on the first failure cancel the others and raise it."""
    tasks = [asyncio.create_task(job) for job in jobs]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        # The parts write to one file descriptor: none may still run when the caller closes it.
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


async def download_blob(
    state: EmulatorState, registry: RegistryClient, client: httpx.AsyncClient, digest: str
) -> AsyncIterator[dict[str, Any]]:
    """Download ``digest`` into the store (joining a download already under way) with progress."""
    download = state.downloads.get(digest)
    if download is None:
        # Registered before preparing (Ollama's LoadOrStore), so a concurrent pull joins this one.
        download = BlobDownload(state, registry, digest)
        state.downloads[digest] = download
        try:
            await download.prepare(client)
        except BaseException as error:
            state.downloads.pop(digest, None)
            # A pull that joined this download must not receive another task's cancellation.
            download.prepare_error = (
                error if isinstance(error, Exception) else RegistryError("context canceled")
            )
            raise
        finally:
            download.prepared.set()
        download.start()
    assert isinstance(download, BlobDownload)
    async for event in download.follow():
        yield event
