"""``LocalOllamaServer``: an ``ollama serve`` that lives exactly as long as one task.

It binds 127.0.0.1 on a port nobody else holds, keeps its models and HOME to itself, is ready only when it
answers HTTP, prepares the task's models, and is stopped (with its runners) whatever happens to the task,
leaving nothing on disk: its output goes to the task log, its temporary directory is removed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from airflow_provider_ollama.exceptions import (
    OllamaBadRequestError,
    OllamaGPUUnavailableError,
    OllamaModelNotFoundError,
    OllamaServerStartError,
)
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.server.binary import find_ollama_binary
from airflow_provider_ollama.server.preparation import ModelPreparer, PullModels
from airflow_provider_ollama.server.process import ServerProcess
from airflow_provider_ollama.server.settings import (
    GPU_VISIBILITY_VARIABLES,
    LocalServer,
    build_server_environment,
)
from airflow_provider_ollama.server.workdir import (
    create_work_dir,
    record_server,
    remove_abandoned_work_dirs,
    remove_work_dir,
)

if TYPE_CHECKING:
    from airflow_provider_ollama.hooks.ollama import OllamaHook

log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_POLL_INTERVAL_S = 0.025
_PROBE_TIMEOUT_S = 1.0
_ERROR_TAIL_LINES = 20


class LocalOllamaServer:
    """Run ``ollama serve`` for the life of a task; use it as a context manager.

    .. code-block:: python

        with LocalOllamaServer(LocalServer(gpus=[0], keep_alive=-1), models=["llama3.2:1b"]) as server:
            server.hook.generate("llama3.2:1b", "Why is the sky blue?")

    :param settings: what the server is (:class:`LocalServer`: binary, GPUs, Ollama settings, model
        store); default ``LocalServer()``. Checked here, so it must be rendered already.
    :param models: models to have on the server before the work starts (pulled, or restored by ``preparer``).
    :param timeout: seconds for the server to answer HTTP once started.
    :param stop_timeout: seconds between SIGTERM and SIGKILL at stop.
    :param port: a fixed port; default 0 lets the system choose a free one and reads it from the log.
    :param home: HOME of the server (holds its registry key pair); default: a temporary directory.
    :param log_path: a file that also gets the server's output, kept after stop (yours to rotate); default:
        none, the output goes only to the task log, line by line.
    :param preparer: how models get onto the server; default :class:`PullModels`.
    """

    def __init__(
        self,
        settings: LocalServer | None = None,
        *,
        models: Sequence[str] = (),
        timeout: float = 60.0,
        stop_timeout: float = 10.0,
        port: int = 0,
        home: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        preparer: ModelPreparer | None = None,
    ) -> None:
        settings = settings if settings is not None else LocalServer()
        settings.validate()
        if isinstance(models, str):
            raise ValueError(f"models must be a list of model names, not the string {models!r}")
        for model in models:
            ModelName.parse(model)
        if settings.require_gpu and not models:
            raise ValueError("require_gpu=True needs models=[...]: the GPU check loads the first one")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, got {port}")
        if timeout <= 0 or stop_timeout < 0:
            raise ValueError("timeout must be positive and stop_timeout not negative")
        self.settings = settings
        self.models = list(models)
        self._shared_models_dir = Path(settings.models_dir).expanduser() if settings.models_dir else None
        self._home = Path(home).expanduser() if home is not None else None
        self._port = port
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self._log_path = Path(log_path).expanduser() if log_path is not None else None
        self.preparer: ModelPreparer = preparer if preparer is not None else PullModels()

        self._lock = threading.RLock()
        self._process: ServerProcess | None = None
        self._work_dir: Path | None = None
        self._stop_requested = False
        self._stopped = False
        self.url: str | None = None
        self.models_dir: Path | None = None
        self.log_path: Path | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"LocalOllamaServer(url={self.url!r}, pid={self.pid}, {state})"

    # --- public state ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of ``ollama serve`` (also its process group id on POSIX)."""
        return None if self._process is None else self._process.pid

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @cached_property
    def hook(self) -> OllamaHook:
        """An :class:`OllamaHook` on this server (no Airflow connection involved)."""
        from airflow_provider_ollama.hooks.ollama import OllamaHook

        if self.url is None:
            raise RuntimeError("the server has no URL yet: call start() or use it as a context manager")
        return OllamaHook(base_url=self.url)

    def log_tail(self, lines: int = _ERROR_TAIL_LINES) -> list[str]:
        """The last lines the server printed."""
        return [] if self._process is None else self._process.tail(lines)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalOllamaServer:
        """Start the server, wait until it answers HTTP, prepare the models, check the GPU if required.

        On any failure (or interruption) the server is stopped before the error propagates.
        """
        with self._lock:
            if self._stopped:
                raise RuntimeError("this server was stopped; create a new LocalOllamaServer to start another")
            if self._process is not None:
                return self
            binary = find_ollama_binary(self.settings.binary)
        try:
            with self._lock:
                process = self._launch(binary)
            if self._stop_requested:
                raise OllamaServerStartError("stop() was called while the server was being launched")
            self._wait_until_ready(process, time.monotonic() + self.timeout)
            assert self.models_dir is not None  # set by _launch
            self.preparer.prepare(self.hook, self.models, models_dir=self.models_dir)
            self._check_models_present()
            if self.settings.require_gpu:
                self._check_gpu()
        except BaseException as error:
            stopped_by_request = self._stop_requested
            self.stop()
            if stopped_by_request and isinstance(error, Exception):
                raise OllamaServerStartError(
                    f"The server at {self.url} was stopped while starting"
                ) from error
            raise
        return self

    def _launch(self, binary: Path) -> ServerProcess:
        # Killed tasks whose watchdog died with them (an OOM kill of the whole container) left folders.
        remove_abandoned_work_dirs()
        self._work_dir = create_work_dir()
        self.models_dir = self._shared_models_dir or self._work_dir / "models"
        home = self._home or self._work_dir / "home"
        self.log_path = self._log_path
        directories = [self.models_dir, home] + ([self.log_path.parent] if self.log_path else [])
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise OllamaServerStartError(
                    f"{directory} is not writable by this task's user; `ollama serve` needs it"
                )
        environment = build_server_environment(
            self.settings,
            host=f"{_LOOPBACK}:{self._port}",
            models_dir=self.models_dir,
            home=home,
            shared_store=self._shared_models_dir is not None,
        )
        process = ServerProcess(
            [str(binary), "serve"],
            env=environment,
            log_path=self.log_path,
            scratch_dir=self._work_dir,
            cwd=self._work_dir,
            stop_timeout=self.stop_timeout,
        )
        self._process = process
        process.start()
        if process.pid is not None:
            record_server(self._work_dir, process.pid)
        log.info(
            "Started %s serve (pid %s), models in %s%s%s",
            binary,
            process.pid,
            self.models_dir,
            f", log also in {self.log_path}" if self.log_path else "",
            _describe_gpus(environment),
        )
        return process

    def _wait_until_ready(self, process: ServerProcess, deadline: float) -> None:
        started = time.monotonic()
        port = self._port or self._wait_for_port(process, deadline)
        self.url = f"http://{_LOOPBACK}:{port}"
        while not self.hook.is_ready(timeout=min(_PROBE_TIMEOUT_S, max(deadline - time.monotonic(), 0.05))):
            self._raise_if_exited(process)
            if time.monotonic() >= deadline:
                raise OllamaServerStartError(
                    f"`ollama serve` listened on {self.url} but did not answer HTTP within "
                    f"{self.timeout:.0f} s (raise timeout if GPU discovery is slow here)." + self._tail_text()
                )
            # Waiting on the process, not sleeping, notices a crash at once.
            process.wait_exit(_POLL_INTERVAL_S)
        log.info("ollama serve answers on %s after %.2f s", self.url, time.monotonic() - started)

    def _wait_for_port(self, process: ServerProcess, deadline: float) -> int:
        while True:
            port = process.wait_for_port(min(_POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))
            if port is not None:
                return port
            self._raise_if_exited(process)
            if time.monotonic() >= deadline:
                raise OllamaServerStartError(
                    f"`ollama serve` printed no 'Listening on' line within {self.timeout:.0f} s, so "
                    "its port is unknown; pass port= to choose one." + self._tail_text()
                )

    def _raise_if_exited(self, process: ServerProcess) -> None:
        code = process.poll()
        if code is None:
            return
        # The output reader may still hold the last lines: let it reach end of file first.
        process.wait_for_output_end(_PROBE_TIMEOUT_S)
        raise OllamaServerStartError(
            f"`ollama serve` exited with code {code} before it was ready." + self._tail_text()
        )

    def _tail_text(self) -> str:
        lines = self.log_tail(_ERROR_TAIL_LINES)
        if not lines:
            return " It printed nothing."
        return f" Its last {len(lines)} log lines:\n" + "\n".join(lines)

    def _check_models_present(self) -> None:
        missing = [model for model in self.models if not self.hook.has_model(model)]
        if missing:
            raise OllamaModelNotFoundError(
                f"{type(self.preparer).__name__} did not make {', '.join(missing)} available on {self.url}"
            )

    def _check_gpu(self) -> None:
        model = self.models[0]
        # Loaded for the server's keep_alive (OLLAMA_KEEP_ALIVE), like the task's own requests.
        try:
            self.hook.load(model)
        except OllamaBadRequestError:
            # Embedding-only models refuse /api/generate; an embedding loads them just the same.
            self.hook.embed(model, "GPU check")
        for loaded in self.hook.ps():
            size, in_vram = int(loaded.size or 0), int(loaded.size_vram or 0)
            if in_vram == 0:
                raise OllamaGPUUnavailableError(self._no_gpu_message(str(loaded.model), size))
            if in_vram < size:
                log.warning(
                    "%s fits only partly in GPU memory (%d of %d bytes); the rest runs on the CPU",
                    loaded.model,
                    in_vram,
                    size,
                )
        log.info("GPU check passed: %s is loaded in GPU memory", model)

    def _no_gpu_message(self, model: str, size: int) -> str:
        visible = {
            name: self.settings.ollama_variables().get(name, os.environ.get(name))
            for name in GPU_VISIBILITY_VARIABLES
        }
        shown = (
            ", ".join(f"{name}={value}" for name, value in visible.items() if value is not None) or "none set"
        )
        gpu_lines = [line for line in self.log_tail(200) if "gpu" in line.lower() or "cuda" in line.lower()][
            -5:
        ]
        return (
            f"require_gpu=True, but {model} loaded with 0 of {size} bytes in GPU memory on {self.url}: the "
            "server found no usable GPU. Check that the worker has the NVIDIA driver (nvidia-smi) or ROCm; "
            f"that gpus= names a device that exists (device variables: {shown}); and on Kubernetes that the "
            "task pod requests one (resources.limits 'nvidia.com/gpu': 1 in executor_config's pod_override). "
            "The server's output is in this task's log."
            + (" Its GPU lines:\n" + "\n".join(gpu_lines) if gpu_lines else "")
        )

    def stop(self) -> None:
        """Stop the server and its runners, then remove its temporary files; idempotent and thread-safe.

        Safe from ``on_kill`` (a signal handler on the task's main thread) while another call is under way.
        """
        self._stop_requested = True
        with self._lock:
            process = self._process
            if process is not None:
                self._stopped = True
                already_stopped = process.stopped
                # Called again after an interruption, this finishes whatever the first call left undone.
                code = process.stop()
                if not already_stopped:
                    log.info("Stopped ollama serve (pid %s, exit code %s)", process.pid, code)
            work_dir, self._work_dir = self._work_dir, None
            # The process removed it already, unless it never started.
            if work_dir is not None:
                remove_work_dir(work_dir)

    def __enter__(self) -> LocalOllamaServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        # Only here, on the thread that did the work: stop() may run in a signal handler that
        # interrupted a request, and closing the client's pool under it could deadlock.
        hook = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()


def _describe_gpus(environment: Mapping[str, str]) -> str:
    chosen = [f"{name}={environment[name]}" for name in GPU_VISIBILITY_VARIABLES if name in environment]
    return f", devices {' '.join(chosen)}" if chosen else ""
