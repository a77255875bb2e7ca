"""``POST /api/push``: upload a local model's blobs and manifest to a registry.

Follows Ollama's upload protocol (HEAD to skip known blobs, POST to open an upload or mount, PATCH
parts with ``Content-Range``, following a 307 to a presigned URL, PUT ``?digest=&etag=`` to commit,
PUT the manifest) and its progress lines (``retrieving manifest``, ``pushing <12 hex>``,
``pushing manifest``, ``success``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE, InvalidManifestError
from airflow_provider_ollama.testing.emulator import transfer
from airflow_provider_ollama.testing.emulator.http import ApiError, ndjson_response, read_json_body
from airflow_provider_ollama.testing.emulator.manifests import reencode
from airflow_provider_ollama.testing.emulator.registry_auth import TokenError, fetch_token, parse_challenge
from airflow_provider_ollama.testing.emulator.registry_client import RegistryClient
from airflow_provider_ollama.testing.emulator.registry_errors import RegistryError, transport_error
from airflow_provider_ollama.testing.emulator.state import EmulatorState

if TYPE_CHECKING:
    import httpx

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")
_CHUNK = 1 << 20
_PUSH_FIELDS = {"model": "string", "name": "string", "insecure": "bool", "stream": "bool"}


class _Upload:
    """One blob being pushed, with the byte count its progress lines report."""

    def __init__(self, state: EmulatorState, registry: RegistryClient, layer: dict[str, Any]) -> None:
        self.state = state
        self.registry = registry
        self.digest = str(layer["digest"])
        self.total = int(layer["size"])
        self.source = str(layer.get("from") or "")
        self.path = state.store.blob_path(self.digest)
        self.completed = 0
        self.scale = state.settings.pull_time_scale

    def event(self) -> dict[str, Any]:
        return transfer.progress_event("pushing", self.digest, self.total, self.completed)

    async def run(self, client: httpx.AsyncClient) -> None:
        url = self.registry.url("blobs", "uploads") + "/"
        if self.source:
            try:
                source = ModelName.parse(self.source)
                url = _with_query(url, {"mount": self.digest, "from": source.repository})
            except InvalidModelNameError:
                pass
        response = await self.registry.request(client, "POST", url)
        if response.status_code == 201:  # mounted from another repository: nothing to send
            self.completed = self.total
            return
        location = _upload_location(response, url)
        size = transfer.part_size(self.total)
        part_digests = []
        offset = 0
        while offset < self.total:
            length = min(size, self.total - offset)
            location, part_md5 = await self._part_with_retries(client, location, offset, length)
            part_digests.append(part_md5)
            offset += length
        etag = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest()
        commit = _with_query(location, {"digest": self.digest, "etag": f"{etag}-{len(part_digests)}"})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": "0"}
        for attempt in range(transfer.MAX_RETRIES):
            # The commit is tried up to six times, waiting 2^try seconds after each failure.
            try:
                await self.registry.request(client, "PUT", commit, headers=headers, content=b"")
                return
            except RegistryError as error:
                _log.info("%s complete upload attempt %d failed: %s", self.digest[7:19], attempt, error)
                await asyncio.sleep(2**attempt * self.scale)
                if attempt == transfer.MAX_RETRIES - 1:
                    raise

    async def _part_with_retries(
        self, client: httpx.AsyncClient, url: str, offset: int, length: int
    ) -> tuple[str, bytes]:
        failures = 0
        while True:
            try:
                return await self._part(client, url, offset, length)
            except RegistryError as error:
                # Ollama waits 2^try seconds after every failure, the sixth included, then gives up.
                _log.info("%s part attempt %d failed: %s, retrying", self.digest[7:19], failures, error)
                await asyncio.sleep(2**failures * self.scale)
                failures += 1
                if failures >= transfer.MAX_RETRIES:
                    raise RegistryError(f"max retries exceeded: {error}") from None

    async def _part(self, client: httpx.AsyncClient, url: str, offset: int, length: int) -> tuple[str, bytes]:
        """One try at sending a part; a failed try takes back the bytes it reported."""
        start = self.completed
        try:
            return await self._send_part(client, url, offset, length)
        except RegistryError:
            self.completed = start
            raise

    async def _send_part(
        self, client: httpx.AsyncClient, url: str, offset: int, length: int
    ) -> tuple[str, bytes]:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
            "X-Redirect-Uploads": "1",
            "Content-Range": f"{offset}-{offset + length - 1}",
            "User-Agent": self.registry.user_agent,
        }
        if self.registry.token:
            headers["Authorization"] = f"Bearer {self.registry.token}"
        md5 = hashlib.md5(usedforsecurity=False)
        start = self.completed
        response = await _send(client, "PATCH", url, headers, self._read(offset, length, md5))
        next_url = _upload_location(response, url)
        if response.status_code == 307:
            # The registry hands the bytes to a presigned storage URL: send the part there instead.
            self.completed = start
            md5 = hashlib.md5(usedforsecurity=False)
            target = urllib.parse.urljoin(url, response.headers["location"])
            put_headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
            _raise_for_status(
                await _send(client, "PUT", target, put_headers, self._read(offset, length, md5))
            )
            return next_url, md5.digest()
        if response.status_code == 401:
            # uploadPart: take a token for the next try, then fail this one like any 4xx.
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            host = urllib.parse.urlsplit(url).netloc
            try:
                self.registry.token = await fetch_token(
                    client, challenge, host, self.registry.key_path, self.registry.user_agent
                )
            except TokenError as error:
                raise RegistryError(str(error)) from None
        _raise_for_status(response)
        return next_url, md5.digest()

    async def _read(self, offset: int, length: int, md5: Any) -> AsyncIterator[bytes]:
        with self.path.open("rb") as handle:
            handle.seek(offset)
            remaining = length
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                md5.update(chunk)
                remaining -= len(chunk)
                self.completed += len(chunk)
                self.state.stats.add("bytes_uploaded", len(chunk))
                yield chunk


async def _send(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], content: AsyncIterator[bytes]
) -> httpx.Response:
    """Send a part's bytes; a request that gets no answer fails with Go's transport error text."""
    import httpx

    try:
        return await client.request(method, url, headers=headers, content=content)
    except httpx.HTTPError as error:
        raise transport_error(method, url, error) from None


def _raise_for_status(response: httpx.Response) -> None:
    """Fail a part whose answer is an HTTP error, quoting the status line and body as Ollama does."""
    if response.status_code >= 400:
        raise RegistryError(f"http status {response.status_code} {response.reason_phrase}: {response.text}")


def _upload_location(response: httpx.Response, base: str) -> str:
    location = response.headers.get("docker-upload-location") or response.headers.get("location") or ""
    return urllib.parse.urljoin(base, str(location))


def _with_query(url: str, values: dict[str, str]) -> str:
    """``url.Values.Add`` then ``Encode``: the query's keys sorted, a key's values in order."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(values.items())
    query.sort(key=lambda item: item[0])
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


async def _push_blob(upload: _Upload, client: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    try:
        await upload.registry.request(client, "HEAD", upload.registry.url("blobs", upload.digest))
    except RegistryError as error:
        if str(error) != "file does not exist":
            raise
    else:
        upload.completed = upload.total
        yield upload.event()
        return
    task = asyncio.create_task(upload.run(client))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=transfer.PROGRESS_INTERVAL_S)
            yield upload.event()
        task.result()
    finally:
        if not task.done():
            task.cancel()


async def push_model(state: EmulatorState, text: str, *, insecure: bool) -> AsyncIterator[dict[str, Any]]:
    """Ollama's ``PushModel`` as progress events; failures raise ``ApiError(500, ...)``."""
    state.stats.add("pushes")
    yield {"status": "retrieving manifest"}
    try:
        name = state.existing_name(ModelName.parse(text))
    except InvalidModelNameError:
        raise ApiError(500, "invalid model name") from None
    try:
        registry = RegistryClient(state.settings, name, insecure=insecure)
    except RegistryError as error:
        raise ApiError(500, str(error)) from None
    path = state.store.find_manifest(name)
    if path is None:
        yield {"status": "couldn't retrieve manifest"}
        missing = state.store.manifests_dir.joinpath(*name.manifest_path.parts)
        raise ApiError(500, f"open {missing}: no such file or directory")
    try:
        raw = reencode(path.read_bytes())
        document = _manifest_document(raw)
    except (OSError, ValueError, InvalidManifestError) as error:
        raise ApiError(500, str(error)) from None
    blobs = [*(document.get("layers") or []), document["config"]]
    async with registry.session() as client:
        try:
            for layer in blobs:
                async for event in _push_blob(_Upload(state, registry, layer), client):
                    yield event
            yield {"status": "pushing manifest"}
            headers = {"Content-Type": MANIFEST_MEDIA_TYPE}
            await registry.request(
                client, "PUT", registry.url("manifests", name.tag), headers=headers, content=raw
            )
        except RegistryError as error:
            raise ApiError(500, str(error)) from None
    yield {"status": "success"}


def _manifest_document(raw: bytes) -> dict[str, Any]:
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InvalidManifestError("not an Ollama manifest")
    return document


async def push(request: Request) -> Response:
    """``POST /api/push``."""
    state: EmulatorState = request.app.state.emulator
    body = await read_json_body(request, fields=_PUSH_FIELDS, struct="PushRequest")
    text = str(body.get("model") or body.get("name") or "")
    if not text:
        raise ApiError(400, "model is required")
    events = push_model(state, text, insecure=bool(body.get("insecure")))
    return await ndjson_response(events, stream=body.get("stream") is not False)


def routes() -> list[BaseRoute]:
    return [Route("/api/push", push, methods=["POST"])]
