"""Typed errors of the provider: one class per failure a user can cause or meet.

Every message names what failed (server URL without credentials, model, bucket...) and what to do,
so a task log's last line is enough to fix the problem. Catch :class:`OllamaError` for all of them.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.sdk.exceptions import AirflowException


class OllamaError(AirflowException):
    """Base class of every error this provider raises."""


# --- talking to a server -------------------------------------------------------------------------


class OllamaConnectionConfigError(OllamaError, ValueError):
    """The Airflow connection (host, port or an extra) cannot describe an Ollama server; says which field."""


class OllamaConnectionNotFoundError(OllamaError, AirflowNotFoundException):
    """No Airflow connection has the id a hook was given; says how to define one.

    Also Airflow's ``AirflowNotFoundException`` (kept as ``__cause__``), so code written against Airflow's
    own error still catches it.
    """


class OllamaServerUnreachableError(OllamaError):
    """Nothing answered at the server URL (refused, DNS failure, TLS failure)."""


class OllamaTimeoutError(OllamaError):
    """The server accepted the request but did not answer in time."""


class OllamaAuthError(OllamaError):
    """The server (or a proxy in front of it) rejected the credentials (401/403)."""


class OllamaModelNotFoundError(OllamaError):
    """The model is not on the server (or not in the registry, for a pull)."""


class OllamaBadRequestError(OllamaError):
    """The server rejected the request as invalid (400): the message says which field."""


class OllamaServerError(OllamaError):
    """The server failed while handling the request (5xx, or an error line mid-stream)."""


class OllamaServerBusyError(OllamaServerError):
    """The server's request queue is full (503); retry later or raise OLLAMA_MAX_QUEUE."""


# --- per-task servers ----------------------------------------------------------------------------


class OllamaBinaryNotFoundError(OllamaError):
    """No ``ollama`` executable where the per-task server looked for one."""


class OllamaServerStartError(OllamaError):
    """A per-task server exited or did not become ready; the message carries its last log lines."""


class OllamaGPUUnavailableError(OllamaError):
    """A GPU was required but the loaded model reports no memory on one."""


# --- models --------------------------------------------------------------------------------------


class OllamaPullError(OllamaError):
    """A model could not be pulled from its registry after all retries."""


class OllamaCreateError(OllamaError):
    """A model could not be created (bad Modelfile content the server refused, missing base...)."""


class OllamaGenerationError(OllamaError):
    """One or more items of a generation batch failed."""


# --- S3 model cache ------------------------------------------------------------------------------


class OllamaCacheError(OllamaError):
    """The S3 model cache could not be used."""


class OllamaCacheUnavailableError(OllamaCacheError):
    """The cache's bucket, credentials or endpoint do not work (names bucket and connection)."""


class OllamaCacheIntegrityError(OllamaCacheError):
    """A cached blob did not match its manifest's digest or size; it was not installed."""


# --- deferral ------------------------------------------------------------------------------------


class OllamaTriggerEventError(OllamaError):
    """A deferred task resumed with a missing or malformed trigger event."""


class OllamaServerNotReadyError(OllamaTimeoutError):
    """A shared server did not answer, or lacked the named models, by the wait's deadline."""


def error_class_named(name: object, *, default: type[OllamaError] = OllamaError) -> type[OllamaError]:
    """The error class of this family called ``name`` (as a trigger event carries it), else ``default``.

    Only classes defined here qualify, so a malformed event can never make a worker raise something
    outside the family (``SystemExit``, ``KeyboardInterrupt``...).
    """
    candidate = globals().get(name) if isinstance(name, str) else None
    if isinstance(candidate, type) and issubclass(candidate, OllamaError):
        return candidate
    return default
