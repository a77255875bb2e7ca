"""OllamaHook: an Airflow ``ollama`` connection turned into the official ``ollama`` clients.

Operators, sensors, triggers and TaskFlow functions reach Ollama only through this hook; it adds
what the client lacks (readiness, blob checks, raw create fields) and raises the provider's typed errors.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import ollama
import pydantic
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_ollama.deadlines import MIN_CHECK_TIMEOUT_S
from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaBadRequestError,
    OllamaConnectionNotFoundError,
    OllamaError,
    OllamaModelNotFoundError,
    OllamaServerError,
    OllamaServerNotReadyError,
)
from airflow_provider_ollama.hooks import _form
from airflow_provider_ollama.hooks._connection import (
    OllamaClientSettings,
    missing_connection_message,
    settings_for_url,
    settings_from_connection,
    unknown_extra_keys,
)
from airflow_provider_ollama.hooks._errors import RequestContext, translated_errors
from airflow_provider_ollama.modelfile.parameters import ParameterValueError, check_option
from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.registries import insecure_for
from airflow_provider_ollama.store import file_digest, normalize_digest

ProgressCallback = Callable[[ollama.ProgressResponse], None]

#: /api/create fields the named arguments of :meth:`OllamaHook.create` own.
_CREATE_NAMED_FIELDS = frozenset(
    {"model", "stream", "from", "from_model", "files", "adapters", "template", "system", "parameters"}
    | {"messages", "license", "quantize"}
)


class OllamaHook(BaseHook):
    """Talk to one Ollama server, named by an Airflow connection or by URL.

    The connection's host is the server URL (``http://ollama:11434``, ``https://gw.example.com/ollama``,
    ``ollama``, ``[::1]:11434``); its password, when set, is sent as a bearer token for servers behind
    an authenticating proxy; its extra may set ``request_timeout``, ``verify_ssl``, ``extra_headers``
    and a default ``keep_alive``. Every method raises :class:`~airflow_provider_ollama.exceptions.OllamaError`
    subclasses whose message names the server and what to do.

    :param ollama_conn_id: The Airflow connection to the server.
    :param base_url: Talk to this URL instead, without reading any connection (per-task servers).
    :param timeout: Seconds to wait for one request's answer; overrides the connection's request_timeout.

    .. code-block:: python

        hook = OllamaHook("ollama_default")
        hook.pull("llama3.2")
        print(hook.generate("llama3.2", "Why is the sky blue?").response)
    """

    conn_name_attr = "ollama_conn_id"
    default_conn_name = "ollama_default"
    conn_type = "ollama"
    hook_name = "Ollama"

    def __init__(
        self,
        ollama_conn_id: str = default_conn_name,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ollama_conn_id = ollama_conn_id
        self._timeout = timeout
        # Validated now, so that a bad URL fails where it was written, not at the first request.
        self._settings: OllamaClientSettings | None = (
            settings_for_url(base_url, timeout=timeout) if base_url is not None else None
        )
        self._lock = threading.Lock()
        self._client: ollama.Client | None = None
        self._http: httpx.Client | None = None
        # Async clients belong to the event loop they were made in; a new loop gets new ones.
        self._async_clients: (
            tuple[asyncio.AbstractEventLoop, ollama.AsyncClient, httpx.AsyncClient] | None
        ) = None

    def __repr__(self) -> str:
        where = f", base_url={self._settings.base_url!r}" if self._settings else ""
        return f"{type(self).__name__}(ollama_conn_id={self.ollama_conn_id!r}{where})"

    # --- connection and clients ------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Custom connection form fields for Airflow 3.1 (3.2+ reads ``conn-fields`` from provider info)."""
        return _form.connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Standard-field labels for Airflow 3.1 (3.2+ reads ``ui-field-behaviour`` from provider info)."""
        return {key: value.copy() for key, value in _form.FIELD_BEHAVIOUR.items()}

    @property
    def settings(self) -> OllamaClientSettings:
        """URL, timeout, TLS and header settings, read from the connection on first use."""
        if self._settings is None:
            with _connection_defined(self.ollama_conn_id):
                conn = self.get_connection(self.ollama_conn_id)
            settings = self._settings_from(conn, conn.extra_dejson)
            for secret in settings.secret_values():
                mask_secret(secret)
            self._settings = settings
        return self._settings

    async def asettings(self) -> OllamaClientSettings:
        """:attr:`settings` without blocking the event loop (for triggers and async tasks)."""
        if self._settings is None:
            with _connection_defined(self.ollama_conn_id):
                conn = await self.aget_connection(self.ollama_conn_id)
            # Airflow 3.3.2+ masks the extra's secrets without a blocking call; older ones cannot.
            aextra = getattr(conn, "aextra_dejson", None)
            extra = await aextra() if aextra is not None else conn.extra_dejson
            settings = self._settings_from(conn, extra)
            for secret in settings.secret_values():
                await _amask_secret(secret)
            self._settings = settings
        return self._settings

    def _settings_from(self, conn: Any, extra: Mapping[str, Any]) -> OllamaClientSettings:
        settings = settings_from_connection(
            conn_id=self.ollama_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=extra,
            timeout=self._timeout,
        )
        if unknown := unknown_extra_keys(extra):
            self.log.warning(
                "Connection %r: ignoring unknown extra keys %s (known: request_timeout, verify_ssl, "
                "extra_headers, keep_alive)",
                self.ollama_conn_id,
                unknown,
            )
        self.log.debug("Connection %r points at Ollama on %s", self.ollama_conn_id, settings.base_url)
        return settings

    @property
    def base_url(self) -> str:
        """The server's base URL, with an explicit port and never any credentials."""
        return self.settings.base_url

    def get_conn(self) -> ollama.Client:
        """The official client (Airflow's generic hook interface)."""
        return self.get_client()

    def get_client(self) -> ollama.Client:
        """The official ``ollama.Client`` for this server, made once per hook."""
        with self._lock:
            if self._client is None:
                self._client = ollama.Client(host=self.settings.base_url, **_client_options(self.settings))
            return self._client

    async def aget_client(self) -> ollama.AsyncClient:
        """The official ``ollama.AsyncClient`` for this server and the running event loop."""
        return (await self._aclients())[0]

    def close(self) -> None:
        """Close the connection pools this hook opened (sync ones; async ones close with their loop)."""
        with self._lock:
            for client in (self._client, self._http):
                if client is not None:
                    client.close()
            self._client = self._http = None

    async def aclose(self) -> None:
        """Close the async clients made in the running event loop (call it before the loop ends)."""
        clients, self._async_clients = self._async_clients, None
        if clients is not None and clients[0] is asyncio.get_running_loop():
            await clients[1].close()  # type: ignore[no-untyped-call]
            await clients[2].aclose()

    def _http_client(self) -> httpx.Client:
        """Plain httpx on the same URL, headers and TLS settings, for what the client has no call for."""
        with self._lock:
            if self._http is None:
                settings = self.settings
                self._http = httpx.Client(base_url=settings.base_url, **_client_options(settings))
            return self._http

    async def _aclients(self) -> tuple[ollama.AsyncClient, httpx.AsyncClient]:
        settings = await self.asettings()
        loop = asyncio.get_running_loop()
        if self._async_clients is None or self._async_clients[0] is not loop:
            options = _client_options(settings)
            self._async_clients = (
                loop,
                ollama.AsyncClient(host=settings.base_url, **options),
                httpx.AsyncClient(base_url=settings.base_url, **options),
            )
        return self._async_clients[1], self._async_clients[2]

    def _request_limits(self, seconds: float | None) -> httpx.Timeout:
        """The limits of one request: ``seconds`` for everything, or the connection's when None."""
        return _client_timeout(self.settings) if seconds is None else httpx.Timeout(seconds)

    def _errors(
        self, action: str, model: str | None = None, *, timeout: float | None = None
    ) -> AbstractContextManager[None]:
        """Translate errors raised in the block; call only once :attr:`settings` is resolved.

        ``timeout`` is the request's own limit when it has one (for messages), else the connection's.
        """
        settings = self.settings
        return translated_errors(
            RequestContext(
                base_url=settings.base_url,
                action=action,
                model=model,
                timeout=timeout if timeout is not None else settings.request_timeout,
                secrets=tuple(settings.secret_values()),
            )
        )

    # --- server ----------------------------------------------------------------------------------

    def version(self, *, timeout: float | None = None) -> str:
        """The server's version, such as ``0.33.0-rc2`` (the cheapest authenticated call).

        ``timeout``: seconds for this call (default: the connection's request_timeout).
        """
        http = self._http_client()
        with self._errors("version", timeout=timeout):
            response = http.get("/api/version", timeout=self._request_limits(timeout))
            _raise_for_status(response)
            return str(response.json()["version"])

    async def aversion(self, *, timeout: float | None = None) -> str:
        """:meth:`version` for async code."""
        _, http = await self._aclients()
        with self._errors("version", timeout=timeout):
            response = await http.get("/api/version", timeout=self._request_limits(timeout))
            _raise_for_status(response)
            return str(response.json()["version"])

    def is_ready(self, *, timeout: float = 2.0) -> bool:
        """Whether the server answers ``GET /`` with 200 within ``timeout`` seconds; never raises for I/O."""
        try:
            response = self._http_client().get("/", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def ais_ready(self, *, timeout: float = 2.0) -> bool:
        """:meth:`is_ready` for async code (the readiness trigger polls with it)."""
        _, http = await self._aclients()
        try:
            response = await http.get("/", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def not_ready_reason(self, *, timeout: float | None = None) -> str | None:
        """One readiness check: None when ``GET /`` answers 200 within ``timeout``, else why not.

        ``timeout`` defaults to the connection's request_timeout, at most 10 s. One request, whatever
        the answer; a rejected token raises :class:`OllamaAuthError` (waiting cannot fix it).
        """
        failure = self._readiness_failure(self.settings.check_timeout if timeout is None else timeout)
        return None if failure is None else str(failure)

    async def anot_ready_reason(self, *, timeout: float | None = None) -> str | None:
        """:meth:`not_ready_reason` for async code (the readiness trigger polls with it)."""
        _, http = await self._aclients()
        limit = self.settings.check_timeout if timeout is None else timeout
        try:
            with self._errors("readiness check", timeout=limit):
                _raise_for_status(await http.get("/", timeout=limit))
        except OllamaAuthError:
            raise
        except OllamaError as failure:
            return str(failure)
        return None

    def _readiness_failure(self, timeout: float) -> OllamaError | None:
        http = self._http_client()
        try:
            with self._errors("readiness check", timeout=timeout):
                _raise_for_status(http.get("/", timeout=timeout))
        except OllamaAuthError:
            raise
        except OllamaError as failure:
            return failure
        return None

    def wait_until_ready(self, *, timeout: float, poke_interval: float = 0.1) -> None:
        """Check ``GET /`` every ``poke_interval`` seconds until the server answers 200, for at most ``timeout``.

        Each check waits at most the connection's request_timeout (10 s at most) and not past the
        deadline (but half a second at least), so the wait ends within ``timeout`` plus half a second.
        A rejected token raises :class:`OllamaAuthError` at once (waiting cannot fix it). At the deadline,
        raises :class:`OllamaServerNotReadyError` (an :class:`OllamaTimeoutError`) whose message and
        ``__cause__`` carry the last failure.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            failure = self._readiness_failure(
                min(self.settings.check_timeout, max(remaining, MIN_CHECK_TIMEOUT_S))
            )
            if failure is None:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OllamaServerNotReadyError(
                    f"Ollama at {self.base_url} was not ready within {timeout:g} s. Last attempt: {failure}"
                ) from failure
            time.sleep(min(poke_interval, remaining))

    def test_connection(self) -> tuple[bool, str]:
        """Ask the server its version (cheap, no generation); the message says what to fix on failure."""
        try:
            version = self.version()
        except Exception as failure:  # the UI shows the message; any failure is a failed test
            return False, str(failure)
        return True, f"Connected to Ollama {version} at {self.base_url}."

    # --- models ----------------------------------------------------------------------------------

    def list_models(self) -> list[ollama.ListResponse.Model]:
        """Models stored on the server (``/api/tags``), newest first."""
        with self._errors("list"):
            return list(self.get_client().list().models)

    async def alist_models(self) -> list[ollama.ListResponse.Model]:
        """:meth:`list_models` for async code."""
        client, _ = await self._aclients()
        with self._errors("list"):
            return list((await client.list()).models)

    def show(self, model: str) -> ollama.ShowResponse:
        """A model's details: Modelfile, parameters, template, capabilities..."""
        with self._errors("show", model):
            return self.get_client().show(model)

    async def ashow(self, model: str) -> ollama.ShowResponse:
        """:meth:`show` for async code."""
        client, _ = await self._aclients()
        with self._errors("show", model):
            return await client.show(model)

    def has_model(self, model: str, *, timeout: float | None = None) -> bool:
        """Whether the server has ``model`` (asked by name, so tags and case resolve like Ollama's).

        ``timeout``: seconds for this call (default: the connection's request_timeout).
        """
        http = self._http_client()
        try:
            with self._errors("show", model, timeout=timeout):
                _raise_for_status(
                    http.post("/api/show", json={"model": model}, timeout=self._request_limits(timeout))
                )
        except OllamaModelNotFoundError:
            return False
        return True

    async def ahas_model(self, model: str, *, timeout: float | None = None) -> bool:
        """:meth:`has_model` for async code."""
        _, http = await self._aclients()
        try:
            with self._errors("show", model, timeout=timeout):
                response = await http.post(
                    "/api/show", json={"model": model}, timeout=self._request_limits(timeout)
                )
                _raise_for_status(response)
        except OllamaModelNotFoundError:
            return False
        return True

    def model_digest(self, model: str) -> str:
        """``sha256:<hex>`` of the model's manifest, the identity Ollama lists it by."""
        entry = self.listed_model(model)
        return f"sha256:{str(entry.digest).removeprefix('sha256:')}"

    def listed_model(self, model: str) -> ollama.ListResponse.Model:
        """The model's ``/api/tags`` entry (digest, size, details)."""
        listed = self.list_models()
        for entry in listed:
            if entry.model is not None and entry.digest and _same_model(entry.model, model):
                return entry
        raise OllamaModelNotFoundError(
            f"Model '{model}' is not on the Ollama server at {self.base_url} "
            f"({len(listed)} models listed). Pull or create it first."
        )

    def ps(self) -> list[ollama.ProcessResponse.Model]:
        """Models loaded in memory now, with their expiry and VRAM use."""
        with self._errors("ps"):
            return list(self.get_client().ps().models)

    async def aps(self) -> list[ollama.ProcessResponse.Model]:
        """:meth:`ps` for async code."""
        client, _ = await self._aclients()
        with self._errors("ps"):
            return list((await client.ps()).models)

    def pull(self, model: str, *, insecure: bool = False, progress: ProgressCallback | None = None) -> str:
        """Pull ``model`` from its registry; return its digest once the server has it.

        Progress streams (each line goes to ``progress``), so a long download never looks idle to
        the request timeout. ``insecure`` allows a plain-http registry (those listed in
        ``[ollama] insecure_registries`` are allowed anyway).
        """
        self.log.info("Pulling %s into Ollama at %s", model, self.base_url)
        with self._errors("pull", model):
            updates = self.get_client().pull(
                model, insecure=insecure_for(model, insecure=insecure), stream=True
            )
            self._follow_progress("pull", model, updates, progress)
        return self.model_digest(model)

    def push(self, model: str, *, insecure: bool = False, progress: ProgressCallback | None = None) -> None:
        """Push ``model`` to the registry its name points at (plain HTTP as for :meth:`pull`)."""
        self.log.info("Pushing %s from Ollama at %s", model, self.base_url)
        with self._errors("push", model):
            updates = self.get_client().push(
                model, insecure=insecure_for(model, insecure=insecure), stream=True
            )
            self._follow_progress("push", model, updates, progress)

    def blob_exists(self, digest: str) -> bool:
        """Whether the server already holds the blob ``sha256:<hex>`` (``HEAD /api/blobs/<digest>``)."""
        digest = normalize_digest(digest)
        with self._errors("blob check"):
            response = self._http_client().head(f"/api/blobs/{digest}")
            if response.status_code == 404:
                return False
            _raise_for_status(response)
            return True

    def upload_blob(self, path: Path | str) -> str:
        """Upload a local file as a blob unless the server has it; return its ``sha256:<hex>`` digest.

        The file is hashed and streamed in chunks, so memory stays small for multi-gigabyte weights.
        """
        path = Path(path)
        digest, size = file_digest(path)
        if self.blob_exists(digest):
            self.log.info("Blob %s (%s) is already on the server; not uploading it", digest[:19], path.name)
            return digest
        self.log.info("Uploading %s (%d bytes) as blob %s", path, size, digest[:19])
        with self._errors("blob upload"), path.open("rb") as handle:
            _raise_for_status(self._http_client().post(f"/api/blobs/{digest}", content=handle))
        return digest

    def upload_blob_stream(self, digest: str, chunks: Iterable[bytes], *, size: int) -> None:
        """Upload ``size`` bytes arriving as ``chunks`` (e.g. from S3) as the blob ``digest``, without a file.

        Memory stays at one chunk whatever the blob's size. The server hashes the body and refuses it
        with :class:`~airflow_provider_ollama.exceptions.OllamaBadRequestError` unless it matches
        ``digest``; an exception raised by ``chunks`` aborts the upload, leaving nothing on the server.
        """
        digest = normalize_digest(digest)
        self.log.info("Uploading blob %s (%d bytes) from a stream", digest[:19], size)
        with self._errors("blob upload"):
            response = self._http_client().post(
                f"/api/blobs/{digest}", content=chunks, headers={"Content-Length": str(size)}
            )
            _raise_for_status(response)

    def create(
        self,
        model: str,
        *,
        from_model: str | None = None,
        files: Mapping[str, Path | str] | None = None,
        adapters: Mapping[str, Path | str] | None = None,
        template: str | None = None,
        system: str | None = None,
        parameters: Mapping[str, Any] | ollama.Options | None = None,
        messages: Sequence[Mapping[str, Any] | ollama.Message] | None = None,
        license: str | list[str] | None = None,
        quantize: str | None = None,
        progress: ProgressCallback | None = None,
        **raw_fields: Any,
    ) -> str:
        """Create ``model`` on the server (``/api/create``); return its digest.

        ``from_model`` is the base model (Ollama's ``from``, the client's ``from_``). ``files`` and
        ``adapters`` map file names to a local :class:`~pathlib.Path` (uploaded first, skipped when the
        server has it) or to a ``sha256:<hex>`` digest already on the server.
        ``raw_fields`` are /api/create fields the client has no argument for (``renderer``,
        ``parser``, ``requires``...); when given, the request is sent with httpx.
        """
        if clashing := sorted(_CREATE_NAMED_FIELDS & raw_fields.keys()):
            raise TypeError(f"create() got {clashing} as raw fields; use the named arguments instead")
        file_digests = self._blob_digests("files", files)
        adapter_digests = self._blob_digests("adapters", adapters)
        self.log.info("Creating %s on Ollama at %s", model, self.base_url)
        with self._errors("create", model):
            if raw_fields:
                body = {
                    "model": model,
                    "from": from_model,
                    "files": file_digests,
                    "adapters": adapter_digests,
                    "template": template,
                    "system": system,
                    "parameters": parameters,
                    "messages": messages,
                    "license": license,
                    "quantize": quantize,
                    **raw_fields,
                    "stream": True,
                }
                updates = self._stream_progress("/api/create", _json_ready(body))
            else:
                updates = self.get_client().create(
                    model,
                    quantize=quantize,
                    from_=from_model,
                    files=file_digests,
                    adapters=adapter_digests,
                    template=template,
                    license=license,
                    system=system,
                    parameters=parameters,
                    messages=messages,
                    stream=True,
                )
            self._follow_progress("create", model, updates, progress)
        return self.model_digest(model)

    def copy(self, source: str, destination: str) -> None:
        """Copy ``source`` to the new name ``destination`` (blobs are shared, nothing is duplicated)."""
        with self._errors("copy", source):
            self.get_client().copy(source, destination)

    def delete(self, model: str) -> None:
        """Delete ``model`` and the blobs no other model uses."""
        with self._errors("delete", model):
            self.get_client().delete(model)

    # --- inference -------------------------------------------------------------------------------

    def generate(self, model: str, prompt: str = "", **kwargs: Any) -> ollama.GenerateResponse:
        """Complete ``prompt`` (``/api/generate``, not streamed); ``kwargs`` as in ``ollama.Client.generate``."""
        arguments = self._inference_arguments("generate", model, kwargs)
        with self._errors("generate", model):
            return self.get_client().generate(model, prompt, stream=False, **arguments)

    async def agenerate(self, model: str, prompt: str = "", **kwargs: Any) -> ollama.GenerateResponse:
        """:meth:`generate` for async code (batch generation runs many of these at once)."""
        client, _ = await self._aclients()
        arguments = self._inference_arguments("generate", model, kwargs)
        with self._errors("generate", model):
            return await client.generate(model, prompt, stream=False, **arguments)

    def chat(
        self, model: str, messages: Sequence[Mapping[str, Any] | ollama.Message], **kwargs: Any
    ) -> ollama.ChatResponse:
        """Answer a conversation (``/api/chat``, not streamed); ``kwargs`` as in ``ollama.Client.chat``."""
        arguments = self._inference_arguments("chat", model, kwargs)
        with self._errors("chat", model):
            return self.get_client().chat(model, messages, stream=False, **arguments)

    async def achat(
        self, model: str, messages: Sequence[Mapping[str, Any] | ollama.Message], **kwargs: Any
    ) -> ollama.ChatResponse:
        """:meth:`chat` for async code."""
        client, _ = await self._aclients()
        arguments = self._inference_arguments("chat", model, kwargs)
        with self._errors("chat", model):
            return await client.chat(model, messages, stream=False, **arguments)

    def embed(self, model: str, input: str | Sequence[str], **kwargs: Any) -> ollama.EmbedResponse:
        """Embed one text or many (``/api/embed``); vectors come back L2-normalised."""
        arguments = self._inference_arguments("embed", model, kwargs)
        with self._errors("embed", model):
            return self.get_client().embed(model, input, **arguments)

    async def aembed(self, model: str, input: str | Sequence[str], **kwargs: Any) -> ollama.EmbedResponse:
        """:meth:`embed` for async code."""
        client, _ = await self._aclients()
        arguments = self._inference_arguments("embed", model, kwargs)
        with self._errors("embed", model):
            return await client.embed(model, input, **arguments)

    def load(self, model: str, *, keep_alive: float | str | None = None) -> None:
        """Load ``model`` into memory now, so the first real request does not pay for it."""
        self.generate(model, "", keep_alive=keep_alive)

    def unload(self, model: str) -> None:
        """Free the memory ``model`` holds (``keep_alive=0``); the model stays on disk."""
        self.generate(model, "", keep_alive=0)

    # --- helpers ---------------------------------------------------------------------------------

    def _inference_arguments(self, action: str, model: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` with the connection's default keep_alive, options checked; streaming is the client's
        job."""
        if kwargs.get("stream"):
            raise TypeError(
                "OllamaHook returns whole responses; for streaming, call hook.get_client() with stream=True"
            )
        kwargs.pop("stream", None)
        options = kwargs.get("options")
        for name, value in options.items() if isinstance(options, Mapping) else ():
            try:
                check_option(str(name), value)
            except ParameterValueError as error:
                # The server would answer 500 and a retry would get the same: say it before sending.
                raise OllamaBadRequestError(
                    f"Invalid arguments for the {action} request for model '{model}' to Ollama at "
                    f"{self.base_url}: {error.message}; {error.hint}. Nothing was sent."
                ) from None
        default = self.settings.keep_alive
        if kwargs.get("keep_alive") is None and default is not None:
            kwargs["keep_alive"] = default
        return kwargs

    def _blob_digests(self, argument: str, blobs: Mapping[str, Path | str] | None) -> dict[str, str] | None:
        """File name -> digest, uploading local paths first."""
        if blobs is None:
            return None
        digests: dict[str, str] = {}
        for name, value in blobs.items():
            if isinstance(value, Path):
                digests[name] = self.upload_blob(value)
                continue
            try:
                digests[name] = normalize_digest(value)
            except ValueError:
                raise ValueError(
                    f"{argument}[{name!r}] must be a pathlib.Path to upload or a 'sha256:<hex>' digest "
                    f"already on the server, not {value!r}"
                ) from None
        return digests

    def _follow_progress(
        self,
        action: str,
        model: str,
        updates: Iterator[ollama.ProgressResponse],
        progress: ProgressCallback | None,
    ) -> None:
        """Consume a progress stream: hand each line to ``progress``, log each new status once."""
        status = None
        for update in updates:
            if progress is not None:
                progress(update)
            if update.status != status:
                status = update.status
                self.log.info("%s %s: %s", action, model, status)
        if status != "success":
            raise OllamaServerError(
                f"Ollama at {self.base_url} ended the {action} of '{model}' without success "
                f"(last status: {status!r}). See the server's log."
            )

    def _stream_progress(self, path: str, body: dict[str, Any]) -> Iterator[ollama.ProgressResponse]:
        """POST ``body`` and yield its NDJSON progress lines, raising like the client does."""
        with self._http_client().stream("POST", path, json=body) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_status(response)
            for line in response.iter_lines():
                if not line.strip():
                    continue
                part = json.loads(line)
                if error := part.get("error"):
                    raise ollama.ResponseError(error)
                yield ollama.ProgressResponse(**part)


@contextmanager
def _connection_defined(conn_id: str) -> Iterator[None]:
    """Turn Airflow's "isn't defined" into an error that says how to define the connection."""
    try:
        yield
    except AirflowNotFoundException as missing:
        raise OllamaConnectionNotFoundError(missing_connection_message(conn_id)) from missing


def _client_options(settings: OllamaClientSettings) -> dict[str, Any]:
    """Keyword arguments shared by the ollama clients and plain httpx clients of one server."""
    headers = settings.headers
    configured_auth = any(name.lower() == "authorization" for name in headers)
    return {
        "headers": headers,
        "timeout": _client_timeout(settings),
        "verify": settings.verify_ssl,
        "auth": None if configured_auth else _NO_IMPLICIT_AUTHORIZATION,
    }


def _client_timeout(settings: OllamaClientSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout)


class _NoImplicitAuthorization(httpx.Auth):
    """Sends requests without an ``Authorization`` header (for connections that configure none).

    Given no token, the official client adds ``Bearer $OLLAMA_API_KEY`` from the worker's environment:
    a worker-wide secret that must never go to whatever server a connection names. Applied as httpx
    auth, it runs on every request of the sync and async clients alike.
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.pop("Authorization", None)
        yield request


_NO_IMPLICIT_AUTHORIZATION = _NoImplicitAuthorization()


def _raise_for_status(response: httpx.Response) -> None:
    """Raise what the client raises for an HTTP error, so one translation covers both paths."""
    if response.status_code >= 400:
        raise ollama.ResponseError(response.text, response.status_code)


async def _amask_secret(secret: str) -> None:
    try:
        from airflow.sdk.log import amask_secret  # Airflow 3.3+
    except ImportError:
        mask_secret(secret)
    else:
        await amask_secret(secret)


def _same_model(listed: str, wanted: str) -> bool:
    try:
        return ModelName.parse(listed).same_model(ModelName.parse(wanted))
    except InvalidModelNameError:
        return listed == wanted


def _json_ready(value: Any) -> Any:
    """Request values as JSON: pydantic models (Options, Message) dumped, None fields dropped."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


__all__ = ["OllamaHook", "ProgressCallback"]
