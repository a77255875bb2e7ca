"""What a per-task ``ollama serve`` is (:class:`LocalServer`) and the environment it runs with.

Ollama is configured through environment variables only; this module is the one place that turns the
settings (GPUs, keep_alive, parallelism...) into them, validated before any process starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal, TypeAlias

from airflow_provider_ollama.durations import normalize_keep_alive
from airflow_provider_ollama.templating import require_rendered

#: ``"all"``: the devices the worker already exposes; ``None``/``"none"``: CPU only; a list (or a
#: comma-separated string) of device indexes or UUIDs: exactly those devices.
GpuSelection: TypeAlias = Literal["all", "none"] | str | Sequence[int | str] | None
KeepAlive: TypeAlias = str | int | float | timedelta

#: Every variable through which a GPU runtime picks its devices.
GPU_VISIBILITY_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "GGML_VK_VISIBLE_DEVICES",
)
# Ollama documents an invalid device id as the way to hide every GPU of a vendor.
_NO_DEVICE = "-1"
_KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
# Variables the server object owns: users set them through dedicated arguments instead.
_OWNED_VARIABLES = {
    "OLLAMA_HOST": "LocalOllamaServer(port=)",
    "OLLAMA_MODELS": "models_dir=",
    "HOME": "LocalOllamaServer(home=)",
}
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


def gpu_environment(gpus: GpuSelection) -> dict[str, str | None]:
    """Device-visibility variables for ``gpus``; a ``None`` value means "remove it from the environment".

    ``"all"`` changes nothing (on Kubernetes the device plugin already limits a pod to its GPUs). CPU sets
    every vendor's variable to ``-1``. A selection goes to CUDA (NVIDIA) and ROCR (AMD), and to Vulkan
    when it is made of indexes; HIP_VISIBLE_DEVICES is removed because HIP applies its list *after*
    ROCR's, so the same indexes in both would select the wrong device.
    """
    devices = _parse_gpus(gpus)
    if devices is None:
        return {}
    if not devices:
        return dict.fromkeys(GPU_VISIBILITY_VARIABLES, _NO_DEVICE)
    joined = ",".join(devices)
    return {
        "CUDA_VISIBLE_DEVICES": joined,
        "ROCR_VISIBLE_DEVICES": joined,
        "HIP_VISIBLE_DEVICES": None,
        "GGML_VK_VISIBLE_DEVICES": joined if all(device.isdigit() for device in devices) else None,
    }


def uses_cpu_only(gpus: GpuSelection) -> bool:
    """Whether ``gpus`` hides every GPU from the server."""
    return _parse_gpus(gpus) == []


def _parse_gpus(gpus: GpuSelection) -> list[str] | None:
    """None for "all", [] for CPU only, else the device ids in order."""
    if gpus is None:
        return []
    if isinstance(gpus, str):
        keyword = gpus.strip().lower()
        if keyword == "all":
            return None
        if keyword in ("none", "cpu", ""):
            return []
        entries: Sequence[int | str] = [part.strip() for part in gpus.split(",")]
    else:
        entries = gpus
    devices: list[str] = []
    for entry in entries:
        if isinstance(entry, bool) or not isinstance(entry, int | str):
            raise ValueError(f"gpus: {entry!r} is not a device index or UUID")
        text = str(entry)
        if isinstance(entry, int) and entry < 0:
            raise ValueError(f"gpus: device index {entry} is negative; use gpus=None for CPU only")
        if not _DEVICE_ID_RE.match(text):
            raise ValueError(
                f"gpus: {text!r} is not a device index or UUID (e.g. 0, 'GPU-8f3c...'); "
                "use 'all', None for CPU only, or a list"
            )
        devices.append(text)
    return devices


def format_keep_alive(keep_alive: KeepAlive) -> str:
    """``keep_alive`` as ``OLLAMA_KEEP_ALIVE`` reads it: whole seconds or a Go duration; negative = forever."""
    if isinstance(keep_alive, timedelta):
        keep_alive = keep_alive.total_seconds()
    value = normalize_keep_alive(keep_alive)
    if isinstance(value, str):
        return value
    return str(int(value)) if value.is_integer() else f"{value}s"


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


@dataclass(kw_only=True)
class LocalServer:
    """A per-task ``ollama serve``: its binary, model store, GPUs and Ollama's own settings.

    The value of ``server=`` that makes a model operator or ``@task.ollama`` start its own server
    (``server="local"`` is ``LocalServer()``), and what :class:`~airflow_provider_ollama.server.LocalOllamaServer`
    is built from. As an operator's argument its fields are Airflow template fields, rendered with the
    operator's; :meth:`validate` checks them once, after rendering. ``None`` keeps Ollama's own default.

    .. code-block:: python

        LocalServer(gpus=[0], num_parallel=4, keep_alive="10m", models_dir="/mnt/nvme/ollama")

    :param gpus: ``"all"`` (default: the devices the worker or pod exposes), ``None`` or ``"none"`` for
        CPU only, or device indexes/UUIDs (``[0, 1]``, ``"0,1"``).
    :param require_gpu: after preparing the models, load the first one and fail unless it is in GPU memory.
    :param keep_alive: how long models stay loaded after a request (seconds, a Go duration such as
        ``"10m"``, or ``-1`` for the life of the server). ``OLLAMA_KEEP_ALIVE``.
    :param num_parallel: requests each loaded model serves at once. ``OLLAMA_NUM_PARALLEL``.
    :param max_loaded_models: models held in memory at once. ``OLLAMA_MAX_LOADED_MODELS``.
    :param context_length: default context window in tokens. ``OLLAMA_CONTEXT_LENGTH``.
    :param flash_attention: force flash attention on or off. ``OLLAMA_FLASH_ATTENTION``.
    :param kv_cache_type: ``f16``, ``q8_0`` or ``q4_0``. ``OLLAMA_KV_CACHE_TYPE``.
    :param env: further variables for the server (``OLLAMA_DEBUG``, ``HTTPS_PROXY``...), applied last.
    :param models_dir: a model store kept across tasks (pruning off); default: a temporary one, removed
        when the server stops.
    :param binary: the ``ollama`` executable (path or name on PATH); default ``$OLLAMA_BINARY``, then PATH.
    """

    #: Rendered by Airflow when this value is an operator's template field (flags and the GPU switch stay
    #: literal: a template would render them to text).
    template_fields: ClassVar[tuple[str, ...]] = (
        "gpus",
        "keep_alive",
        "num_parallel",
        "max_loaded_models",
        "context_length",
        "kv_cache_type",
        "env",
        "models_dir",
        "binary",
    )

    gpus: GpuSelection = "all"
    require_gpu: bool = False
    keep_alive: KeepAlive | None = None
    num_parallel: int | None = None
    max_loaded_models: int | None = None
    context_length: int | None = None
    flash_attention: bool | None = None
    kv_cache_type: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    models_dir: str | os.PathLike[str] | None = None
    binary: str | os.PathLike[str] | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work (after templates are rendered)."""
        for name in self.template_fields:
            # env values may be secrets (proxy credentials, tokens): never in an error message.
            require_rendered(name, getattr(self, name), show_value=name != "env")
        if self.keep_alive is not None:
            format_keep_alive(self.keep_alive)
        _positive("num_parallel", self.num_parallel)
        _positive("max_loaded_models", self.max_loaded_models)
        _positive("context_length", self.context_length)
        if self.kv_cache_type is not None and self.kv_cache_type not in _KV_CACHE_TYPES:
            raise ValueError(
                f"kv_cache_type: expected one of {', '.join(_KV_CACHE_TYPES)}, got {self.kv_cache_type!r}"
            )
        _parse_gpus(self.gpus)
        if self.require_gpu and uses_cpu_only(self.gpus):
            raise ValueError("require_gpu=True contradicts gpus=None (CPU only); choose one")
        if not isinstance(self.env, Mapping):
            raise ValueError(f"env: expected a dict of variables, got {type(self.env).__name__}")
        for name, value in self.env.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ValueError(
                    f"env: names and values must be strings, got {name!r} = a {type(value).__name__}"
                )
            if name in _OWNED_VARIABLES:
                raise ValueError(
                    f"env: {name} is set by the per-task server itself; use {_OWNED_VARIABLES[name]} instead"
                )
        for name in ("models_dir", "binary"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                raise ValueError(f"{name}: expected a path, got {value!r}")

    def ollama_variables(self) -> dict[str, str | None]:
        """The variables these settings set (``None`` = remove), GPU visibility included."""
        variables: dict[str, str | None] = {}
        if self.keep_alive is not None:
            variables["OLLAMA_KEEP_ALIVE"] = format_keep_alive(self.keep_alive)
        if self.num_parallel is not None:
            variables["OLLAMA_NUM_PARALLEL"] = str(self.num_parallel)
        if self.max_loaded_models is not None:
            variables["OLLAMA_MAX_LOADED_MODELS"] = str(self.max_loaded_models)
        if self.context_length is not None:
            variables["OLLAMA_CONTEXT_LENGTH"] = str(self.context_length)
        if self.flash_attention is not None:
            variables["OLLAMA_FLASH_ATTENTION"] = "1" if self.flash_attention else "0"
        if self.kv_cache_type is not None:
            variables["OLLAMA_KV_CACHE_TYPE"] = self.kv_cache_type
        variables.update(gpu_environment(self.gpus))
        return variables

    def __repr__(self) -> str:
        # Also what Airflow shows as the rendered field: env values (a proxy's password...) stay out.
        shown = [
            f"{item.name}={'{...}' if item.name == 'env' and self.env else repr(getattr(self, item.name))}"
            for item in fields(self)
            if getattr(self, item.name) != (item.default if item.default is not MISSING else {})
        ]
        return f"LocalServer({', '.join(shown)})"


def build_server_environment(
    settings: LocalServer,
    *,
    host: str,
    models_dir: Path,
    home: Path,
    shared_store: bool,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of one ``ollama serve``: the worker's, then ours, then ``settings.env``.

    The worker's PATH, library paths and proxies carry over; the bind address, model store and HOME are
    always the server's own, so two servers on one worker share nothing they should not.
    """
    environment = dict(os.environ if base is None else base)
    variables: dict[str, str | None] = {
        "OLLAMA_HOST": host,
        "OLLAMA_MODELS": str(models_dir),
        # `ollama serve` writes its key pair below HOME and fails when HOME is not writable.
        "HOME": str(home),
        **settings.ollama_variables(),
    }
    if shared_store:
        # Another server (or the S3 cache) may own blobs this server has no manifest for.
        variables["OLLAMA_NOPRUNE"] = "1"
    variables.update(settings.env)
    for name, value in variables.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment
