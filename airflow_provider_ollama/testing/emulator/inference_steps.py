"""Steps that generate, chat and embed share, each following the Ollama 0.33 function it is named after.

Model references (``parseAndValidateModelRef``: ``:local``/``:cloud`` suffixes, cloud and remote
models, which offline end where Ollama's proxy would), options (``Options.FromMap``), thinking,
capability checks (``CheckCapabilities``), scheduling with ``handleScheduleError``'s statuses, and the
relay of llama-server's error bodies, which Ollama passes on verbatim.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_ollama.names import InvalidModelNameError, ModelName
from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator import inference_fields as fields
from airflow_provider_ollama.testing.emulator.engine import EngineError
from airflow_provider_ollama.testing.emulator.gojson import go_quote
from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.inference_fields import think_level
from airflow_provider_ollama.testing.emulator.model import LocalModel
from airflow_provider_ollama.testing.emulator.scheduler import (
    QUEUE_FULL_MESSAGE,
    Lease,
    QueueFullError,
    Scheduler,
)
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings

#: ``modelref.ErrConflictingSourceSuffix``.
CONFLICTING_SOURCE = "use either :local or :cloud, not both"
#: Where Ollama proxies ``:cloud`` models (``defaultCloudProxyBaseURL``).
CLOUD_BASE_URL = "https://ollama.com:443"
#: llama.cpp's error for media sent to a model without a projector, relayed by Ollama as sent.
MULTIMODAL_UNSUPPORTED = "Multimodal data provided, but model does not support multimodal requests."
#: What Ollama budgets per image when a model has a projector (``imageNumTokens``).
IMAGE_TOKENS = 768


class InferenceState(Protocol):
    """What the inference handlers need from the emulator's state (``request.app.state.emulator``)."""

    @property
    def settings(self) -> EmulatorSettings: ...

    @property
    def scheduler(self) -> Scheduler: ...

    def load(self, name: ModelName) -> LocalModel | None: ...


def state_of(request: Request) -> InferenceState:
    state: InferenceState = request.app.state.emulator
    return state


# --------------------------------------------------------------------------------------------------
# Model references


@dataclass(frozen=True)
class ModelRef:
    """``parsedModelRef``: the name as sent, without its ``:local``/``:cloud`` suffix, and the source."""

    original: str
    base: str
    source: str  # "", "local" or "cloud"


class ModelRequiredError(Exception):
    """``modelref.ErrModelRequired``: the model field is empty."""


def parse_model_ref(raw: str) -> ModelRef:
    """``modelref.ParseRef``: trim, then split off an explicit ``:cloud``, ``:local`` or ``-cloud`` tag."""
    text = raw.strip()
    if not text:
        raise ModelRequiredError
    base, source = _source_suffix(text)
    if source and _source_suffix(base)[1]:
        raise ApiError(400, f"{CONFLICTING_SOURCE}: {go_quote(text)}")
    return ModelRef(text, base, source)


def _source_suffix(text: str) -> tuple[str, str]:
    index = text.rfind(":")
    if index < 0:
        return text, ""
    suffix_raw = text[index + 1 :].strip()
    suffix = suffix_raw.lower()
    if suffix in ("cloud", "local"):
        return text[:index], suffix
    if "/" not in suffix_raw and suffix.endswith("-cloud"):
        return text[: index + 1] + suffix_raw[: -len("-cloud")], "cloud"
    return text, ""


def legacy_cloud_name(ref: ModelRef) -> str:
    """``NormalizePullName``: a ``:cloud`` reference names the legacy ``:<tag>-cloud`` (or ``:cloud``) stub."""
    if ref.source != "cloud":
        return ref.base
    last_slash, last_colon = ref.base.rfind("/"), ref.base.rfind(":")
    return f"{ref.base}-cloud" if last_colon > last_slash else f"{ref.base}:cloud"


def find_model(
    state: InferenceState, raw: str, *, required: ApiError, path: str
) -> tuple[ModelRef, LocalModel | None]:
    """Resolve a request's model: ``required`` for an empty name, 400 for an invalid one, the cloud
    proxy's answer for ``:cloud``; None when no such model is stored."""
    try:
        ref = parse_model_ref(raw)
    except ModelRequiredError:
        raise required from None
    try:
        name = ModelName.parse(ref.base)
    except InvalidModelNameError:
        raise ApiError(400, "invalid model name") from None
    if ref.source == "cloud":
        raise cloud_unavailable(state.settings, path)
    return ref, state.load(name)


def cloud_unavailable(
    settings: EmulatorSettings, path: str, operation: str = "remote model is unavailable"
) -> ApiError:
    """``proxyCloudRequestWithPath`` offline: 403 with OLLAMA_NO_CLOUD, else the failed dial (502)."""
    if settings.no_cloud:
        return ApiError(403, f"ollama cloud is disabled: {operation}")
    return ApiError(502, f'Post "{CLOUD_BASE_URL}{path}": dial tcp: lookup ollama.com: no such host')


def check_remote(state: InferenceState, ref: ModelRef, model: LocalModel, raw: str, path: str) -> None:
    """A model created with ``remote_host`` runs on that host: Ollama checks OLLAMA_REMOTES and proxies;
    offline the proxy's request fails as Go's client reports it."""
    host = str(model.config.get("remote_host") or "")
    remote = str(model.config.get("remote_model") or "")
    if not host or not remote:
        return
    if ref.source == "local":
        raise ApiError(404, f"model '{raw}' not found")
    if state.settings.no_cloud:
        raise ApiError(403, "ollama cloud is disabled: remote model is unavailable")
    from urllib.parse import urlsplit

    hostname = urlsplit(host).hostname or ""
    if hostname not in state.settings.remotes:
        raise ApiError(400, "this server cannot run this remote model")
    raise ApiError(500, f'Post "{host.rstrip("/")}{path}": dial tcp: lookup {hostname}: no such host')


# --------------------------------------------------------------------------------------------------
# Capabilities, thinking and options


def thinking_level(model: LocalModel, requested: str, think: bool | str | None) -> str | None:
    """Thinking models think unless told not to (``think`` absent means true); others refuse a request
    to think with ``"<model>" does not support thinking``. Returns the level, or None for no thinking."""
    if model.supports("thinking"):
        value: bool | str = True if think is None else think
        if value == "max" and _uses_harmony(model):
            value = "high"
        return think_level(value)
    if think is not None and think is not False:
        raise ApiError(400, f"{go_quote(requested)} does not support thinking")
    return None


def _uses_harmony(model: LocalModel) -> bool:
    family = str(model.config.get("model_family") or "")
    return family in ("gptoss", "gpt-oss") and "<|start|>" in model.template and "<|end|>" in model.template


def check_capabilities(model: LocalModel, wanted: Sequence[str]) -> None:
    """``CheckCapabilities`` as ``scheduleRunner`` reports it: ``<full name> does not support <caps>``."""
    missing = [capability for capability in wanted if not model.supports(capability)]
    if missing:
        raise CapabilityError(missing, f"{model.name} does not support " + "\n".join(missing))


class CapabilityError(ApiError):
    """A capability the model lacks (400); ``missing`` lists them in the order they were wanted."""

    def __init__(self, missing: list[str], message: str) -> None:
        super().__init__(400, message)
        self.missing = missing


def merged_options(model: LocalModel, requested: Mapping[str, Any] | None) -> dict[str, Any]:
    """``modelOptions``: the model's parameters, then the request's options (see
    :func:`.inference_fields.merged_options` for the typing and its errors)."""
    return fields.merged_options(model.parameters, requested)


# --------------------------------------------------------------------------------------------------
# Scheduling


async def schedule(
    stack: AsyncExitStack,
    state: InferenceState,
    model: LocalModel,
    keep_alive: float | None,
    options: Mapping[str, Any],
    shift: bool | None = None,
) -> Lease:
    """Take a runner for the request (``getRunner``); ``handleScheduleError`` answers a full queue
    (503) and a failed load (500 with the runner's message)."""
    try:
        with engine_errors():
            return await stack.enter_async_context(
                state.scheduler.use(model, keep_alive_seconds=keep_alive, options=options, shift=shift)
            )
    except QueueFullError:
        raise ApiError(503, QUEUE_FULL_MESSAGE) from None


@contextmanager
def engine_errors() -> Iterator[None]:
    """An engine's failure (a load, a runner that stopped, llama-server's refusal) answered with the
    status and text Ollama answers with."""
    try:
        yield
    except EngineError as error:
        raise ApiError(error.status_code, error.message) from None


def llama_server_error(status: int, message: str, kind: str) -> ApiError:
    """An error llama-server answered, relayed as Ollama relays it: its whole JSON body as the text."""
    body = gojson.dumps({"error": {"code": status, "message": message, "type": kind}}).decode()
    return ApiError(status, body)


def multimodal_unsupported() -> ApiError:
    """llama-server's answer (400, relayed) when media reach a model without a projector."""
    return llama_server_error(400, MULTIMODAL_UNSUPPORTED, "invalid_request_error")


def nonzero(**metrics: int) -> dict[str, int]:
    """Ollama's metrics are ``omitempty``: zero values are left out."""
    return {key: value for key, value in metrics.items() if value}


def now() -> str:
    return gojson.format_time_ns(time.time_ns(), utc=True)


async def unless_disconnected(request: Request, answer: Awaitable[Response]) -> Response:
    """Await the handler, cancelling it if the client goes away first (Ollama's request context).

    Cancelling unwinds the scheduler's context managers, so a slot or queue place is freed at once.
    The body must already be read: from here on the only message left is the disconnect.
    """
    handler = asyncio.ensure_future(answer)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not handler.done():
            handler.cancel()
    if handler.cancelled() or not handler.done():
        with suppress(asyncio.CancelledError, Exception):  # the client is gone; nobody to tell
            await handler
        return Response(b"", status_code=499)
    return handler.result()


async def _disconnected(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
