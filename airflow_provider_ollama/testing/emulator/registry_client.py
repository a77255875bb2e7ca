"""HTTP calls to a model registry, with the error texts Ollama's registry code produces.

Pull and push report registry failures to clients verbatim (``pull model manifest: file does not
exist``, ``500: <body>``, ``Get "...": dial tcp ...: connection refused``), so those strings are
built here once, from httpx's exceptions and the registry's answers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from airflow_provider_ollama.names import DEFAULT_HOST, ModelName
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.version import registry_user_agent

if TYPE_CHECKING:
    import httpx

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
_MAX_REDIRECTS = 10


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


class RegistryClient:
    """The registry a model name is pulled from or pushed to.

    Names without a host go to ``settings.registry_url`` when it is set (the emulated stand-in for
    registry.ollama.ai, trusted like it); other hosts are reached over https, or over http when the
    request says ``insecure`` (an ``http://`` name without it is refused, as by Ollama).
    """

    def __init__(self, settings: EmulatorSettings, name: ModelName, *, insecure: bool) -> None:
        self.name = name
        self.insecure = insecure
        self.user_agent = registry_user_agent(settings.version)
        if name.host.lower() == DEFAULT_HOST and settings.registry_url:
            self.base_url = settings.registry_url.rstrip("/")
        else:
            if name.scheme == "http" and not insecure:
                raise InsecureProtocolError()
            scheme = "http" if insecure else name.scheme
            self.base_url = f"{scheme}://{name.host}"

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url, "v2", self.name.namespace, self.name.model, *parts])

    @asynccontextmanager
    async def session(self) -> AsyncIterator[httpx.AsyncClient]:
        import httpx

        # No overall timeout: multi-GiB downloads are paced by the stall detector instead.
        timeout = httpx.Timeout(None, connect=30.0)
        async with httpx.AsyncClient(
            timeout=timeout, headers={"User-Agent": self.user_agent}, follow_redirects=False
        ) as client:
            yield client

    async def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One registry call with Ollama's status mapping (``makeRequestWithRetry``): 404 becomes
        ``file does not exist``, other statuses >= 400 ``<code>: <body>``; the body is read."""
        import httpx

        try:
            response = await client.request(method, url, headers=headers, content=content)
        except httpx.HTTPError as error:
            raise transport_error(method, url, error) from None
        if response.status_code == 404:
            raise RegistryError("file does not exist")
        if response.status_code >= 400:
            raise RegistryError(f"{response.status_code}: {response.text}")
        return response

    async def manifest(self, client: httpx.AsyncClient) -> bytes:
        response = await self.request(
            client, "GET", self.url("manifests", self.name.tag), headers={"Accept": MANIFEST_ACCEPT}
        )
        return response.content

    async def blob_size(self, client: httpx.AsyncClient, digest: str) -> int:
        response = await self.request(client, "HEAD", self.url("blobs", digest))
        return int(response.headers.get("content-length") or 0)

    async def blob_location(self, client: httpx.AsyncClient, digest: str) -> str:
        """The direct (CDN) URL of a blob: redirects are followed while they stay on the registry's
        host; the first one leaving it, or a 200 carrying ``Location``, names the URL."""
        import httpx

        url = self.url("blobs", digest)
        origin = urllib.parse.urlsplit(url).hostname
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                request = client.build_request("GET", url)
                response = await client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise transport_error("GET", url, error) from None
            try:
                location = response.headers.get("location")
                target: str | None = urllib.parse.urljoin(url, str(location)) if location else None
                if response.status_code == 404:
                    raise RegistryError("file does not exist")
                if response.status_code >= 400:
                    await response.aread()
                    raise RegistryError(f"{response.status_code}: {response.text}")
                if response.is_redirect and target is not None:
                    if urllib.parse.urlsplit(target).hostname == origin:
                        url = target
                        continue
                    return target
                if response.status_code == 200:
                    if target is None:
                        raise DirectURLError("http: no Location header in response")
                    return target
                raise DirectURLError(f"unexpected status code {response.status_code}")
            finally:
                await response.aclose()
        raise DirectURLError(f"maximum redirects exceeded ({_MAX_REDIRECTS}) for directURL")
