"""Pull models through a server robustly: follow the progress stream, cancel it when it stalls, retry.

Shared by :class:`~airflow_provider_ollama.operators.pull.OllamaPullOperator` (on the worker) and
:class:`~airflow_provider_ollama.triggers.pull.OllamaPullTrigger` (in the triggerer), so both behave alike.
A retry is cheap because Ollama keeps partial downloads: the next pull continues where the last one stopped.
Only what may pass with time is retried (stalls, dropped connections, 5xx): a registry that cannot be
reached or refuses the pull fails it at once (:mod:`~airflow_provider_ollama.pulling.failures`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import ollama

from airflow_provider_ollama.backoff import Backoff
from airflow_provider_ollama.exceptions import (
    OllamaError,
    OllamaModelNotFoundError,
    OllamaPullError,
    OllamaServerError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)
from airflow_provider_ollama.hooks._errors import RequestContext, translated_errors
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.pulling.failures import permanent_pull_failure
from airflow_provider_ollama.pulling.progress import LineLogger, PullProgressReporter
from airflow_provider_ollama.registries import insecure_for

#: Ollama hashes every downloaded blob after this status and says nothing until it is done, which
#: takes minutes for large models: silence then is work, not a stall.
_VERIFYING = "verifying sha256 digest"


@dataclass(frozen=True)
class PullRetryPolicy(Backoff):
    """How hard to try: retries, backoff, and what counts as a stall.

    :param retries: attempts after the first one (0 disables retries).
    :param retry_delay: seconds before the first retry; doubled for each further one.
    :param max_retry_delay: cap on any single wait.
    :param stall_timeout: seconds without any progress (no new bytes, no new status) after which the
        stream is cancelled and the pull retried. Not applied while the server verifies digests.
    """

    stall_timeout: float = 120.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stall_timeout <= 0:
            raise ValueError(f"stall_timeout must be positive, got {self.stall_timeout}")


@dataclass(frozen=True)
class PulledModel:
    """The outcome of one model's pull (JSON-native fields)."""

    model: str
    digest: str
    summary: str
    downloaded_bytes: int
    attempts: int


@dataclass
class _StreamWatch:
    """What the stream consumer last saw, read by the stall watchdog."""

    changed_at: float
    last_mark: tuple[str | None, str | None, int | None] = (None, None, None)
    verifying: bool = False
    final_status: str | None = None
    phases: list[str] = field(default_factory=list)


class PullStalledError(OllamaTimeoutError):
    """A pull showed no progress for ``stall_timeout`` seconds; its stream was cancelled (retried)."""


async def pull_models(
    hook: OllamaHook,
    models: Sequence[str],
    *,
    insecure: bool = False,
    policy: PullRetryPolicy | None = None,
    logger: LineLogger,
    progress_interval: float = 10.0,
) -> list[PulledModel]:
    """Pull each model in turn (each one retried on its own); return their digests and summary lines.

    Raises :class:`OllamaPullError` after the last failed attempt of a model, naming the model, its
    registry and the last cause; :class:`OllamaModelNotFoundError` at once for a name the registry lacks.
    The hook's async clients are closed before returning.
    """
    policy = policy or PullRetryPolicy()
    try:
        settings = await hook.asettings()
        results = []
        for model in models:
            reporter = PullProgressReporter(model, logger=logger, interval=progress_interval)
            logger.info("Pulling %s through Ollama at %s", model, settings.base_url)
            previous = await asyncio.to_thread(current_digest, hook, model)
            attempts = await _pull_with_retries(hook, model, insecure, policy, reporter, logger)
            listed = await asyncio.to_thread(hook.listed_model, model)
            digest = f"sha256:{str(listed.digest).removeprefix('sha256:')}"
            summary = reporter.summary(digest, previous, model_size=listed.size)
            logger.info("%s", summary)
            results.append(PulledModel(model, digest, summary, reporter.downloaded_bytes, attempts))
        return results
    finally:
        await hook.aclose()


class PullOptions(TypedDict, total=False):
    """The optional arguments of :func:`pull_models`, which :func:`pull_models_blocking` passes on."""

    insecure: bool
    policy: PullRetryPolicy | None
    progress_interval: float


def pull_models_blocking(
    hook: OllamaHook,
    models: Sequence[str],
    *,
    logger: LineLogger,
    timeout: float | None = None,
    **options: Unpack[PullOptions],
) -> list[PulledModel]:
    """:func:`pull_models` for synchronous code (a task on a worker), with the same retries and progress.

    ``timeout`` bounds all pulls together: past it :class:`asyncio.TimeoutError` is raised.
    """
    # Read the connection now, synchronously: inside the event loop the hook would fetch it again.
    _ = hook.settings
    return asyncio.run(asyncio.wait_for(pull_models(hook, models, logger=logger, **options), timeout))


def registry_of(model: str) -> str:
    """The registry host a model name pulls from (``registry.ollama.ai`` for bare names)."""
    return ModelName.parse(model).host


async def _pull_with_retries(
    hook: OllamaHook,
    model: str,
    insecure: bool,
    policy: PullRetryPolicy,
    reporter: PullProgressReporter,
    logger: LineLogger,
) -> int:
    """Pull until success or the last attempt; return the number of attempts it took."""
    attempt = 0
    while True:
        attempt += 1
        reporter.new_attempt()
        try:
            await _follow_pull(hook, model, insecure, policy.stall_timeout, reporter)
            return attempt
        except OllamaModelNotFoundError as missing:
            raise OllamaModelNotFoundError(
                f"The registry {registry_of(model)} has no model '{model}' (asked through Ollama at "
                f"{hook.base_url}). Check the name and tag for a typo (e.g. 'llama3.2:1b'), and the "
                "registry host in the name (bare names come from registry.ollama.ai)."
            ) from missing
        except (OllamaServerError, OllamaServerUnreachableError, OllamaTimeoutError) as failure:
            reason = _server_reason(failure)
            if reason is not None and (permanent := permanent_pull_failure(reason, model)) is not None:
                tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                raise OllamaPullError(
                    f"Could not pull '{model}' through Ollama at {hook.base_url} ({tries}): "
                    f"{permanent.what}. Not retried: waiting does not change that. {permanent.advice} "
                    f"The server said: {reason}"
                ) from failure
            if attempt > policy.retries:
                raise OllamaPullError(
                    _final_message(model, hook, attempt, failure, _advice(failure))
                ) from failure
            delay = policy.delay(attempt)
            # Ollama keeps what it downloaded; only then is there anything for the next attempt to resume.
            resumes = "; the download resumes where it stopped" if reporter.partly_downloaded else ""
            logger.info(
                "pull %s: attempt %d of %d failed: %s Retrying in %.1f s%s.",
                model,
                attempt,
                policy.retries + 1,
                _sentence(str(failure)),
                delay,
                resumes,
            )
            await asyncio.sleep(delay)


async def _follow_pull(
    hook: OllamaHook, model: str, insecure: bool, stall_timeout: float, reporter: PullProgressReporter
) -> None:
    """Issue one pull and follow its stream to the end; cancel it if nothing moves for ``stall_timeout``.

    The stream is read in one task of its own (the client's stream must open and close in the same
    task); this coroutine watches it and cancels it on a stall, which closes the connection, and the
    server then stops that download and keeps what it has.
    """
    loop = asyncio.get_running_loop()
    watch = _StreamWatch(changed_at=loop.time())
    settings = await hook.asettings()
    context = RequestContext(
        base_url=settings.base_url,
        action="pull",
        model=model,
        timeout=settings.request_timeout,
        secrets=tuple(settings.secret_values()),
    )
    client = await hook.aget_client()

    async def consume() -> None:
        with translated_errors(context):
            async for update in await client.pull(
                model, insecure=insecure_for(model, insecure=insecure), stream=True
            ):
                reporter(update)
                mark = (update.status, update.digest, update.completed)
                if mark != watch.last_mark:
                    watch.last_mark = mark
                    watch.changed_at = loop.time()
                watch.verifying = update.status == _VERIFYING
                watch.final_status = update.status

    consumer = asyncio.create_task(consume(), name=f"pull-{model}")
    try:
        while not consumer.done():
            idle = loop.time() - watch.changed_at
            if not watch.verifying and idle >= stall_timeout:
                raise PullStalledError(
                    f"No progress for {stall_timeout:g} s ({reporter.stalled_layer()}), so the stream was "
                    "cancelled."
                )
            # While verifying there is no limit; waking up now and then notices the next status.
            await asyncio.wait({consumer}, timeout=stall_timeout if watch.verifying else stall_timeout - idle)
        consumer.result()
    finally:
        if not consumer.done():
            consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    if watch.final_status != "success":
        raise OllamaServerError(
            f"Ollama at {settings.base_url} ended the pull of '{model}' without success "
            f"(last status: {watch.final_status!r}). See the server's log."
        )


def _server_reason(failure: OllamaError) -> str | None:
    """The error text the Ollama server itself sent (None when the failure was not its answer)."""
    cause = failure.__cause__
    return str(cause.error).strip() if isinstance(cause, ollama.ResponseError) else None


def _advice(failure: OllamaError) -> str:
    if isinstance(failure, PullStalledError):
        return (
            "The download kept stalling: check the server's network path to the registry (proxy, "
            "firewall), or raise stall_timeout or pull_retries."
        )
    if isinstance(failure, OllamaServerUnreachableError):
        return "The Ollama server stopped answering: check that it is running and reachable."
    return "Retry later, or check the server's log and its access to the registry."


def _final_message(model: str, hook: OllamaHook, attempts: int, failure: OllamaError, advice: str) -> str:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return (
        f"Could not pull '{model}' from registry {registry_of(model)} through Ollama at {hook.base_url} "
        f"({tries}). Last cause: {_sentence(str(failure))} {advice}"
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def current_digest(hook: OllamaHook, model: str) -> str | None:
    """The model's ``sha256:<hex>`` digest on ``hook``'s server now, or ``None`` when the server lacks it."""
    try:
        return hook.model_digest(model)
    except OllamaModelNotFoundError:
        return None
