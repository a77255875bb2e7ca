"""Registries that may be reached over plain HTTP, configured once per deployment instead of per call.

Like Docker's ``insecure-registries``: Airflow's ``[ollama] insecure_registries`` option (environment
variable ``AIRFLOW__OLLAMA__INSECURE_REGISTRIES``) lists them, comma separated, and every pull or push
of a model from one of them is sent with Ollama's ``insecure`` flag: by the hook, the pull engine on a
worker or in the triggerer, and the S3 cache reading the registry itself. An entry is ``host:port``
(that registry), ``host`` (any port of it) or a network such as ``10.0.0.0/8`` (any host in it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from airflow.providers.common.compat.sdk import conf

from airflow_provider_ollama.names import InvalidModelNameError, ModelName

CONFIG_SECTION = "ollama"
CONFIG_OPTION = "insecure_registries"
#: The environment variable Airflow reads the option from.
ENVIRONMENT_VARIABLE = f"AIRFLOW__{CONFIG_SECTION.upper()}__{CONFIG_OPTION.upper()}"
#: How the option and its variable are named in messages that tell a user to set them.
SETTING = f"[{CONFIG_SECTION}] {CONFIG_OPTION} ({ENVIRONMENT_VARIABLE})"


def insecure_registries() -> list[str]:
    """The entries of ``[ollama] insecure_registries`` (read on each call: a test or a task may set it)."""
    raw = conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback="") or ""
    return [entry.strip() for entry in raw.split(",") if entry.strip()]


def is_insecure_registry(host: str, entries: Iterable[str] | None = None) -> bool:
    """Whether the registry ``host`` (``name`` or ``name:port``, as in a model name) is listed in
    ``entries`` (default: the configured ones). A network entry that is not one raises ``ValueError``."""
    host = host.lower()
    name = _without_port(host)
    for entry in insecure_registries() if entries is None else entries:
        entry = entry.strip().lower()
        if entry in (host, name) or ("/" in entry and _in_network(name, entry)):
            return True
    return False


def insecure_for(model: str | ModelName, *, insecure: bool = False) -> bool:
    """The ``insecure`` flag a pull or push of ``model`` is sent with: ``insecure`` given for this call,
    or its registry listed in ``[ollama] insecure_registries``."""
    if insecure:
        return True
    try:
        name = model if isinstance(model, ModelName) else ModelName.parse(model)
    except InvalidModelNameError:
        return False  # the request fails on the name itself, with Ollama's own message
    return is_insecure_registry(name.host)


def _without_port(host: str) -> str:
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host


def _in_network(name: str, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(
            f"{SETTING} has the entry {entry!r}, which is not a network: use host, host:port or a network "
            "such as 10.0.0.0/8, comma separated"
        ) from None
    try:
        return ipaddress.ip_address(name) in network
    except ValueError:
        return False  # a host name is never inside a network entry
