"""HTTP calls to a model registry, with the error texts Ollama's registry code produces.

Pull and push report registry failures to clients verbatim (``pull model manifest: file does not
exist``, ``500: <body>``, ``Get "...": dial tcp ...: connection refused``), so those strings are
built once, from httpx's exceptions (:mod:`registry_errors`) and the registry's answers (here).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from airflow_provider_ollama.names import DEFAULT_HOST, ModelName
from airflow_provider_ollama.testing.emulator.registry_auth import TokenError, fetch_token, parse_challenge
from airflow_provider_ollama.testing.emulator.registry_errors import (
    DirectURLError,
    InsecureProtocolError,
    RegistryError,
    transport_error,
)
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.version import registry_user_agent

if TYPE_CHECKING:
    import httpx

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
_MAX_REDIRECTS = 10
#: ``errMaxRedirectsExceeded`` of the direct-URL request.
_REDIRECT_LIMIT = "maximum redirects exceeded (10) for directURL"


class RegistryClient:
    """The registry a model name is pulled from or pushed to (``makeRequestWithRetry`` and friends).

    Names without a host go to ``settings.registry_url`` when it is set (the emulated stand-in for
    registry.ollama.ai, trusted like it); other hosts are reached over https, or over http when the
    request says ``insecure`` (an ``http://`` name without it is refused, as by Ollama). A 401 with a
    Bearer challenge is answered once with a token from the realm, signed with the server's key.
    """

    def __init__(self, settings: EmulatorSettings, name: ModelName, *, insecure: bool) -> None:
        self.name = name
        self.insecure = insecure
        self.user_agent = registry_user_agent(settings.version)
        self.key_path = settings.key_path
        self.token = ""
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
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            yield client

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers["User-Agent"] = self.user_agent
        return headers

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        *,
        same_host_redirects: bool,
    ) -> httpx.Response:
        """One ``makeRequest``: Go's client follows redirects (all of them, or for a blob's direct URL
        only those on the same host, stopping at the first that leaves it)."""
        import httpx

        origin = urllib.parse.urlsplit(url).hostname
        target = url
        for hops in range(_MAX_REDIRECTS + 2):
            try:
                request = client.build_request(
                    method, target, headers=self._headers(headers), content=content
                )
                response = await client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise transport_error(method, url, error) from None
            location = response.headers.get("location")
            if not response.is_redirect or not location:
                return response
            following = urllib.parse.urljoin(target, str(location))
            if same_host_redirects and urllib.parse.urlsplit(following).hostname != origin:
                return response
            await response.aclose()
            if hops >= _MAX_REDIRECTS:
                message = _REDIRECT_LIMIT if same_host_redirects else "stopped after 10 redirects"
                raise RegistryError(f'{method[:1]}{method[1:].lower()} "{following}": {message}')
            target = following
            if response.status_code == 303:
                method, content = "GET", None
        return response

    async def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        same_host_redirects: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """``makeRequestWithRetry``: a 401 fetches a token from the challenge's realm and tries once
        more; 404 becomes ``file does not exist``, other statuses >= 400 ``<code>: <body>``. The body
        is read unless ``stream`` (then the caller closes the response)."""
        for _ in range(2):
            response = await self._send(
                client, method, url, headers, content, same_host_redirects=same_host_redirects
            )
            if response.status_code >= 400 or not stream:
                await response.aread()
                await response.aclose()
            if response.status_code == 401:
                challenge = parse_challenge(response.headers.get("www-authenticate", ""))
                host = urllib.parse.urlsplit(url).netloc
                try:
                    self.token = await fetch_token(client, challenge, host, self.key_path, self.user_agent)
                except TokenError as error:
                    raise RegistryError(str(error)) from None
                continue
            if response.status_code == 404:
                raise RegistryError("file does not exist")
            if response.status_code >= 400:
                raise RegistryError(f"{response.status_code}: {response.text}")
            return response
        raise RegistryError("unauthorized: access denied")

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
        response = await self.request(
            client, "GET", self.url("blobs", digest), same_host_redirects=True, stream=True
        )
        await response.aclose()
        if response.status_code not in (200, 307):
            raise DirectURLError(f"unexpected status code {response.status_code}")
        location = response.headers.get("location")
        if not location:
            raise DirectURLError("http: no Location header in response")
        return urllib.parse.urljoin(str(response.url), str(location))
