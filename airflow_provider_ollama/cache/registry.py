"""Read a model straight from its registry, the way ``ollama pull`` does: the manifest, then each blob.

For a shared server the cache cannot read the server's store, so on a miss the worker fetches the model
from the registry itself and streams it into S3 (see ``mirror.py``); the server then gets it from S3.
Blob GETs answer with a redirect to storage (``307`` + ``Location``, or ``200`` + ``Location``).
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from types import TracebackType

import httpx

from airflow_provider_ollama import __version__
from airflow_provider_ollama.exceptions import OllamaCacheError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.registries import SETTING, insecure_for
from airflow_provider_ollama.store import MANIFEST_MEDIA_TYPE, normalize_digest

_CHUNK_SIZE = 1 << 20
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class RegistryReadError(OllamaCacheError):
    """The registry could not be read: unreachable, refused, or it has no such model."""


class RegistryReader:
    """HTTP reads from the registry ``name`` is pulled from; use as a context manager.

    :param name: the model; its host is the registry (``registry.ollama.ai`` for bare names).
    :param insecure: talk plain HTTP, as Ollama does for ``pull --insecure``; an ``http://`` name
        needs it. Registries listed in ``[ollama] insecure_registries`` get it without asking.
    """

    def __init__(self, name: ModelName, *, insecure: bool = False) -> None:
        insecure = insecure_for(name, insecure=insecure)
        if name.scheme == "http" and not insecure:
            raise RegistryReadError(
                f"{name.display_shortest()} names a plain-HTTP registry; add {name.host} to {SETTING} "
                "to read it"
            )
        self.name = name
        self.base_url = f"{'http' if insecure else name.scheme}://{name.host}"
        self._client = httpx.Client(
            timeout=_TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": f"airflow-provider-ollama/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"RegistryReader({self.base_url!r}, {self.name.display_shortest()!r})"

    def __enter__(self) -> RegistryReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def manifest_url(self) -> str:
        return self._url("manifests", self.name.tag)

    def blob_url(self, digest: str) -> str:
        return self._url("blobs", normalize_digest(digest))

    def manifest(self) -> bytes:
        """The manifest's exact bytes (they are the model's identity: its digest is theirs)."""
        url = self.manifest_url()
        with self._errors(url):
            response = self._client.get(url, headers={"Accept": MANIFEST_MEDIA_TYPE})
            self._raise_for_status(response, url)
            return response.content

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        """The blob's bytes as they arrive, from the storage URL the registry redirects to."""
        url = self.blob_url(digest)
        with self._errors(url):
            with self._client.stream("GET", url) as response:
                location = response.headers.get("location")
                if location is None or response.status_code >= 400:
                    # Some registries and proxies serve the bytes themselves.
                    self._raise_for_status(response, url)
                    yield response.iter_bytes(_CHUNK_SIZE)
                    return
            target = urllib.parse.urljoin(url, location)
            # Storage URLs are presigned: no headers of ours beyond the user agent, and they may redirect.
            with self._client.stream("GET", target, follow_redirects=True) as response:
                self._raise_for_status(response, _without_query(target))
                yield response.iter_bytes(_CHUNK_SIZE)

    def _url(self, *parts: str) -> str:
        return "/".join([self.base_url, "v2", self.name.namespace, self.name.model, *parts])

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        if status < 400:
            return
        model = self.name.display_shortest()
        if status == 404:
            raise RegistryReadError(f"the registry {self.base_url} has no {model} ({url} answered 404)")
        if status in (401, 403):
            raise RegistryReadError(
                f"the registry {self.base_url} refused to serve {model} without credentials (HTTP "
                f"{status}); the cache reads registries anonymously"
            )
        raise RegistryReadError(f"the registry {self.base_url} answered HTTP {status} for {url}")

    @contextlib.contextmanager
    def _errors(self, url: str) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as error:
            raise RegistryReadError(
                f"could not read {_without_query(url)} ({type(error).__name__}: {error}); check the "
                "worker's network path to the registry"
            ) from error


def _without_query(url: str) -> str:
    """A URL for messages: presigned storage URLs carry credentials in their query string."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
