"""Settings of the Ollama emulator, read from the same environment variables as ``ollama serve``.

Real Ollama variables keep their meaning; ``OLLAMA_EMULATOR_*`` variables switch on what only an
emulator has: a performance model, fault injection at start, GPU reporting and a token check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The parsers live in a neutral module so that the hook validates keep_alive exactly as the emulator
# parses it; re-exported here for the emulator's modules.
from airflow_provider_ollama.durations import DurationError as DurationError
from airflow_provider_ollama.durations import parse_env_duration as parse_env_duration
from airflow_provider_ollama.durations import parse_go_duration as parse_go_duration
from airflow_provider_ollama.testing.emulator.version import OLLAMA_VERSION

DEFAULT_PORT = 11434
#: The Ollama release the emulator imitates (declared once, in :mod:`.version`).
EMULATED_VERSION = OLLAMA_VERSION


def _parse_host(value: str) -> tuple[str, int]:
    """``OLLAMA_HOST`` -> (bind host, port); accepts ``[scheme://]host[:port]`` and ``:port``."""
    text = value.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    if text.startswith("["):  # [::1]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or DEFAULT_PORT)
    host, sep, port = text.rpartition(":")
    if not sep:
        return text or "127.0.0.1", DEFAULT_PORT
    return host or "0.0.0.0", int(port)


def _uint(env: Mapping[str, str], key: str, default: int) -> int:
    """envconfig's ``Uint``: quotes and spaces dropped; a value that is not a uint keeps the default."""
    text = (env.get(key) or "").strip().strip("\"'")
    return int(text) if text.isdigit() else default


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything the emulator's behaviour depends on, resolved once at start."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    models_dir: Path = field(default_factory=lambda: Path.home() / ".ollama" / "models")
    keep_alive_seconds: float = 300.0
    num_parallel: int = 1
    max_queue: int = 512
    #: 0 is Ollama's automatic value: three per GPU (three on a host without one).
    max_loaded_models: int = 0
    #: 0 is Ollama's automatic value: 4096 tokens below 23 GiB of VRAM (the emulator's host).
    context_length: int = 0
    noprune: bool = False
    version: str = EMULATED_VERSION
    #: ``OLLAMA_NO_CLOUD``: cloud models and web search answer 403 instead of trying ollama.com.
    no_cloud: bool = False
    #: The server's ``HOME``: its key ``~/.ollama/id_ed25519`` signs registry token requests
    #: (None: this process's home).
    home: Path | None = None
    #: ``OLLAMA_REMOTES``: hosts a model created with ``remote_host`` may run on.
    remotes: tuple[str, ...] = ("ollama.com",)

    #: Registry used for names without an explicit host (they are still stored under
    #: registry.ollama.ai); None means the real https://registry.ollama.ai (unreachable offline).
    registry_url: str | None = None

    # Performance model.
    load_seconds: float = 0.0
    first_token_seconds: float = 0.0
    tokens_per_second: float = 0.0  # 0 = as fast as possible
    request_latency_seconds: float = 0.0  # fixed extra time per generate/chat/embed request
    #: CPU threads of a real model's llama.cpp runner when a request sets no ``num_thread``. Ollama lets
    #: llama.cpp take every physical core, whose threads spin while they wait for each other: right on
    #: a machine of its own, ruinous on one shared with test workers (2 tokens a second instead of 40
    #: at a load of 5 on two cores). 0 restores Ollama's choice.
    llama_threads: int = 1

    # Hardware and access.
    gpu: bool = False  # report loaded models as fully in VRAM (size_vram == size)
    required_token: str | None = field(default=None, repr=False)  # 401 unless "Bearer <token>"

    # Faults at start (runtime faults go through the control endpoint).
    start_delay_seconds: float = 0.0  # listen, but answer HTTP only after this delay (like GPU discovery)
    crash_on_start: bool = False  # log a line and exit 1 before answering anything

    #: Multiplies Ollama's transfer waits (retry backoff, the 30 s stall and redirect limits) so tests
    #: of retries and stalls run in milliseconds; 1.0 keeps Ollama's timings.
    pull_time_scale: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorSettings:
        env = os.environ if environ is None else environ
        host, port = _parse_host(env.get("OLLAMA_HOST") or "127.0.0.1:11434")
        models = env.get("OLLAMA_MODELS") or str(
            Path(env.get("HOME", str(Path.home()))) / ".ollama" / "models"
        )
        return cls(
            host=host,
            port=port,
            models_dir=Path(models).expanduser(),
            keep_alive_seconds=parse_env_duration(env.get("OLLAMA_KEEP_ALIVE") or "5m"),
            num_parallel=_uint(env, "OLLAMA_NUM_PARALLEL", 1),
            max_queue=_uint(env, "OLLAMA_MAX_QUEUE", 512),
            max_loaded_models=_uint(env, "OLLAMA_MAX_LOADED_MODELS", 0),
            context_length=_uint(env, "OLLAMA_CONTEXT_LENGTH", 0),
            noprune=_flag(env.get("OLLAMA_NOPRUNE")),
            home=Path(env["HOME"]) if env.get("HOME") else None,
            no_cloud=_flag(env.get("OLLAMA_NO_CLOUD")),
            remotes=tuple((env.get("OLLAMA_REMOTES") or "ollama.com").strip().split(",")),
            registry_url=env.get("OLLAMA_EMULATOR_REGISTRY") or None,
            load_seconds=float(env.get("OLLAMA_EMULATOR_LOAD_SECONDS") or 0),
            first_token_seconds=float(env.get("OLLAMA_EMULATOR_FIRST_TOKEN_SECONDS") or 0),
            tokens_per_second=float(env.get("OLLAMA_EMULATOR_TOKENS_PER_SECOND") or 0),
            request_latency_seconds=float(env.get("OLLAMA_EMULATOR_REQUEST_LATENCY") or 0),
            llama_threads=_uint(env, "OLLAMA_EMULATOR_NUM_THREAD", 1),
            gpu=_flag(env.get("OLLAMA_EMULATOR_GPU")),
            required_token=env.get("OLLAMA_EMULATOR_TOKEN") or None,
            start_delay_seconds=float(env.get("OLLAMA_EMULATOR_START_DELAY") or 0),
            crash_on_start=_flag(env.get("OLLAMA_EMULATOR_CRASH_ON_START")),
            pull_time_scale=float(env.get("OLLAMA_EMULATOR_PULL_TIME_SCALE") or 1),
            version=env.get("OLLAMA_EMULATOR_VERSION") or EMULATED_VERSION,
        )

    @property
    def key_path(self) -> Path:
        """``~/.ollama/id_ed25519`` of the server's home, as ``auth.Sign`` reads it."""
        return (self.home or Path.home()) / ".ollama" / "id_ed25519"

    @property
    def ollama_host(self) -> str:
        """The ``OLLAMA_HOST`` value naming this server (``127.0.0.1:11434``, ``[::1]:8080``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """The environment variables that make ``ollama-emulator serve`` use these settings
        (the inverse of :meth:`from_env`)."""
        env = {
            "OLLAMA_HOST": self.ollama_host,
            "OLLAMA_MODELS": str(self.models_dir),
            "OLLAMA_KEEP_ALIVE": _seconds(self.keep_alive_seconds),
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "OLLAMA_MAX_QUEUE": str(self.max_queue),
            "OLLAMA_MAX_LOADED_MODELS": str(self.max_loaded_models),
            "OLLAMA_CONTEXT_LENGTH": str(self.context_length) if self.context_length else "",
            "OLLAMA_NOPRUNE": "1" if self.noprune else "",
            "OLLAMA_NO_CLOUD": "1" if self.no_cloud else "",
            "OLLAMA_REMOTES": ",".join(self.remotes),
            "OLLAMA_EMULATOR_VERSION": self.version,
            "OLLAMA_EMULATOR_REGISTRY": self.registry_url or "",
            "OLLAMA_EMULATOR_LOAD_SECONDS": _seconds(self.load_seconds),
            "OLLAMA_EMULATOR_FIRST_TOKEN_SECONDS": _seconds(self.first_token_seconds),
            "OLLAMA_EMULATOR_TOKENS_PER_SECOND": _seconds(self.tokens_per_second),
            "OLLAMA_EMULATOR_REQUEST_LATENCY": _seconds(self.request_latency_seconds),
            "OLLAMA_EMULATOR_NUM_THREAD": str(self.llama_threads),
            "OLLAMA_EMULATOR_GPU": "1" if self.gpu else "",
            "OLLAMA_EMULATOR_TOKEN": self.required_token or "",
            "OLLAMA_EMULATOR_START_DELAY": _seconds(self.start_delay_seconds),
            "OLLAMA_EMULATOR_CRASH_ON_START": "1" if self.crash_on_start else "",
            "OLLAMA_EMULATOR_PULL_TIME_SCALE": _seconds(self.pull_time_scale),
        }
        return env


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
