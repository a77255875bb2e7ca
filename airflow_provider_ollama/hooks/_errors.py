"""Turn what the ``ollama`` client and httpx raise into the provider's typed errors, in one place.

Each message names the server URL (never credentials), the request and model, and what to do, so that
the last line of a task log is enough to fix the problem.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import ollama
import pydantic

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaBadRequestError,
    OllamaError,
    OllamaModelNotFoundError,
    OllamaServerBusyError,
    OllamaServerError,
    OllamaServerUnreachableError,
    OllamaTimeoutError,
)

#: ``ResponseError.status_code`` for an ``{"error": ...}`` line in a stream that had started with 200.
MID_STREAM_STATUS = -1

_CHECK_SERVER = (
    "Is `ollama serve` running there and reachable from this worker? Check the connection's host and port."
)
_NOT_OLLAMA = (
    "Check the connection's host, port and, behind a reverse proxy, its path prefix (https://gateway/ollama)."
)


# Ollama answers a request option of the wrong type with a 500 (Options.FromMap's error), although
# sending it again can only fail the same way: these are bad requests, never retried.
_INVALID_OPTION_RE = re.compile(r'option "[^"]+" must be of |unknown type loading config params')


def states_invalid_request(reason: str) -> bool:
    """Whether a server error's text says the request itself was invalid (an option of the wrong type)."""
    return _INVALID_OPTION_RE.search(reason) is not None


@dataclass(frozen=True)
class RequestContext:
    """What a request was for, so that an error message can say it."""

    base_url: str
    action: str
    model: str | None = None
    timeout: float | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def subject(self) -> str:
        """``the pull request for model 'x'``: the phrase messages are built around."""
        target = f" for model '{self.model}'" if self.model else ""
        return f"the {self.action} request{target}"

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced, in case a server or proxy echoed one back."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


@contextmanager
def translated_errors(context: RequestContext) -> Iterator[None]:
    """Re-raise client and transport errors raised inside the block as :class:`OllamaError` subclasses."""
    try:
        yield
    except OllamaError:
        raise
    except Exception as error:
        translated = to_ollama_error(error, context)
        if translated is None:
            raise
        raise translated from error


def _invalid_arguments(context: RequestContext, problems: str) -> OllamaBadRequestError:
    """Arguments the client refused before sending anything (secrets in them redacted)."""
    return OllamaBadRequestError(
        context.redact(
            f"Invalid arguments for {context.subject} to Ollama at {context.base_url}: {problems}."
        )
    )


def to_ollama_error(error: BaseException, context: RequestContext) -> OllamaError | None:
    """The typed error for ``error``, or None when it is not about talking to the server."""
    url = context.base_url
    if isinstance(error, ollama.ResponseError):
        return _from_response_error(error, context)
    if isinstance(error, ollama.RequestError):
        return _invalid_arguments(context, error.error)
    if isinstance(error, httpx.ConnectTimeout):
        return OllamaServerUnreachableError(
            f"Connecting to Ollama at {url} timed out ({context.subject}). {_CHECK_SERVER} "
            "A firewall dropping packets looks like this too."
        )
    if isinstance(error, httpx.TimeoutException):
        limit = f" within {context.timeout:g} s" if context.timeout else " in time"
        return OllamaTimeoutError(
            f"Ollama at {url} did not answer {context.subject}{limit}. Raise request_timeout in the "
            "connection's extra (or the hook's timeout), or check whether the server is overloaded."
        )
    if isinstance(error, httpx.ConnectError | ConnectionError):
        return _unreachable(error, context)
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return OllamaServerError(
            f"Ollama at {url} dropped the connection during {context.subject} ({error}). Did the server "
            "crash or restart? Check its log."
        )
    if isinstance(error, httpx.TransportError):
        return OllamaServerUnreachableError(
            context.redact(f"Cannot talk to Ollama at {url} ({context.subject}): {error}. {_CHECK_SERVER}")
        )
    if isinstance(error, json.JSONDecodeError):
        return OllamaServerUnreachableError(
            f"Something answered {context.subject} at {url}, but not with Ollama's JSON. {_NOT_OLLAMA}"
        )
    if isinstance(error, pydantic.ValidationError) and error.title.endswith("Request"):
        # The client validates arguments into a request model before sending anything.
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        return _invalid_arguments(context, problems)
    if isinstance(error, pydantic.ValidationError):
        return OllamaServerError(
            f"Ollama at {url} answered {context.subject} with a response the client cannot read "
            f"({error.error_count()} invalid fields). Is the server's version supported?"
        )
    return None


def _unreachable(error: BaseException, context: RequestContext) -> OllamaServerUnreachableError:
    url = context.base_url
    if (tls_error := _tls_cause(error)) is not None:
        return OllamaServerUnreachableError(
            f"TLS with Ollama at {url} failed ({context.subject}): {tls_error}. Give the worker the "
            "server's CA certificate, or set verify_ssl to false in the connection's extra (tests only)."
        )
    # The client turns httpx.ConnectError into a ConnectionError with a generic message; httpx's
    # own message (refused, name not known) is more useful, so prefer it when there is one.
    detail = "" if type(error) is ConnectionError else f": {error}"
    return OllamaServerUnreachableError(
        context.redact(f"Cannot connect to Ollama at {url} ({context.subject}){detail}. {_CHECK_SERVER}")
    )


def _tls_cause(error: BaseException) -> BaseException | None:
    """The TLS failure behind a connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _from_response_error(error: ollama.ResponseError, context: RequestContext) -> OllamaError:
    status = error.status_code
    reason = context.redact(str(error.error).strip())
    url = context.base_url
    said = f"HTTP {status}: {reason}" if status != MID_STREAM_STATUS else reason
    if status in {401, 403}:
        return OllamaAuthError(
            f"Ollama at {url} refused {context.subject} ({said}). Check the connection's bearer token "
            "(Password field): it is missing or wrong for the server or the proxy in front of it."
        )
    if _means_model_missing(status, reason, context):
        return _model_not_found(reason, context)
    if status == 404:
        return OllamaServerUnreachableError(
            f"Something answered {context.subject} at {url}, but not Ollama's API ({said}). {_NOT_OLLAMA}"
        )
    if status in {429, 503}:
        return OllamaServerBusyError(
            f"Ollama at {url} is too busy for {context.subject} ({said}). Retry later (task retries do). "
            "Ollama answers 503 when more requests wait for a model to load than OLLAMA_MAX_QUEUE allows "
            "(older servers also counted requests waiting for a loaded model's OLLAMA_NUM_PARALLEL slots): "
            "load the model before a burst (a warm-up request, a longer keep_alive) or raise OLLAMA_MAX_QUEUE."
        )
    if status == 501:
        return OllamaBadRequestError(
            f"Ollama at {url} cannot serve {context.subject} ({said}). Use a model with that capability "
            "(OllamaHook.show() lists a model's capabilities)."
        )
    if status >= 500 and states_invalid_request(reason):
        return OllamaBadRequestError(
            f"Ollama at {url} rejected {context.subject} ({said}). Fix the option the message names; "
            "sending it again would fail the same way."
        )
    if status == MID_STREAM_STATUS:
        return OllamaServerError(
            f"Ollama at {url} failed {context.subject} mid-stream: {reason}. See the server's log."
        )
    if 400 <= status < 500:
        return OllamaBadRequestError(
            f"Ollama at {url} rejected {context.subject} ({said}). Fix the argument the message names."
        )
    return OllamaServerError(f"Ollama at {url} failed {context.subject} ({said}). See the server's log.")


def _means_model_missing(status: int, reason: str, context: RequestContext) -> bool:
    text = reason.lower()
    if status == 404:
        # Ollama says "model 'x' not found"; a 404 without it comes from a wrong URL or a proxy.
        return "model" in text and "not found" in text
    # A pull (or a create whose base must be pulled) of a name the registry does not have.
    return context.action in {"pull", "create"} and "file does not exist" in text


def _model_not_found(reason: str, context: RequestContext) -> OllamaModelNotFoundError:
    model = f"'{context.model}'" if context.model else "the model"
    url = context.base_url
    if context.action == "create":
        return OllamaModelNotFoundError(
            f"The base model ('from') of {context.subject} is neither on the Ollama server at {url} "
            f"nor in its registry ({reason}). Check the base model's name and tag."
        )
    if context.action == "pull":
        return OllamaModelNotFoundError(
            f"The registry has no model {model} (pulled through Ollama at {url}: {reason}). "
            "Check the model's name and tag, and the registry host in its name."
        )
    return OllamaModelNotFoundError(
        f"Model {model} is not on the Ollama server at {url} ({reason}). Pull it first: "
        "OllamaPullOperator, OllamaHook.pull() or `ollama pull`."
    )
