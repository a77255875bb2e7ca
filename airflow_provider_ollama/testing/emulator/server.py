"""Handles that run the Ollama emulator: in a background thread, or as an ``ollama serve``-like process.

``OllamaEmulator`` is the quick one for tests; ``OllamaEmulatorProcess`` runs the real CLI in its own
process group, for what only a process can show (exit faults, signals, start-up time, log lines)::

    with OllamaEmulator() as ollama:
        ollama_client = ollama_module.Client(host=ollama.url)
        ollama.faults.fail_next(status=503)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing._lifecycle import StartStopContext
from airflow_provider_ollama.testing._serving import BackgroundServer
from airflow_provider_ollama.testing.emulator.app import create_app
from airflow_provider_ollama.testing.emulator.faults import Faults
from airflow_provider_ollama.testing.emulator.remote import RemoteFaults, RemoteStats
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.startup import StartupError, initialize_keypair, prepare_store
from airflow_provider_ollama.testing.emulator.state import EmulatorState
from airflow_provider_ollama.testing.emulator.stats import Stats

if TYPE_CHECKING:
    from typing import Self

_log = logging.getLogger("airflow_provider_ollama.testing.emulator")
_LISTENING_RE = re.compile(r"Listening on (\S+):(\d+) \(version")
_POLL_S = 0.01
_STOP_GRACE_S = 5.0
_CRASH_MESSAGE = "emulated crash on start (OLLAMA_EMULATOR_CRASH_ON_START)"


class EmulatorStartError(RuntimeError):
    """The emulator did not come up; the message carries the reason and, for a process, its log."""

    def __init__(self, message: str, *, returncode: int | None = None, log: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log = log


def _resolve_settings(
    settings: EmulatorSettings | None, overrides: dict[str, Any], scratch: Path
) -> EmulatorSettings:
    """Explicit settings win; otherwise a free port and a models directory under ``scratch``."""
    if settings is None:
        settings = EmulatorSettings(port=0, models_dir=scratch / "models")
    if "models_dir" in overrides:
        overrides["models_dir"] = Path(overrides["models_dir"])
    if settings.home is None and "home" not in overrides:
        # The server's key (~/.ollama/id_ed25519) lives in a home of its own, never the tester's.
        overrides["home"] = scratch / "home"
    return replace(settings, **overrides)


class _EmulatorHandle(StartStopContext):
    """Where an emulator listens and keeps its models, read from its current settings.

    Shared by the in-thread and the process handle so that both answer these the same way (the port
    is known only once the server has started, so every value is derived, never stored).
    """

    is_emulator = True
    _settings: EmulatorSettings

    @property
    def settings(self) -> EmulatorSettings:
        return self._settings

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``ollama.Client(host=...)``."""
        return f"http://{self._settings.ollama_host}"

    @property
    def host(self) -> str:
        """The value for ``OLLAMA_HOST`` (``127.0.0.1:<port>``)."""
        return self._settings.ollama_host

    @property
    def port(self) -> int:
        return self._settings.port

    @property
    def store(self) -> ModelStore:
        return ModelStore(self._settings.models_dir)


class OllamaEmulator(_EmulatorHandle):
    """The emulator served from a daemon thread of this process; a context manager.

    Without ``settings`` it listens on a free 127.0.0.1 port with a models directory of its own
    (deleted on :meth:`stop`). Keyword overrides replace single settings, e.g.
    ``OllamaEmulator(registry_url=registry.url, tokens_per_second=50)``.
    """

    def __init__(self, settings: EmulatorSettings | None = None, **overrides: Any) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="ollama-emulator-")
        self._settings = _resolve_settings(settings, dict(overrides), Path(self._scratch.name))
        self._state: EmulatorState | None = None
        self._server: BackgroundServer | None = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"OllamaEmulator({where}, models_dir={str(self._settings.models_dir)!r})"

    def start(self) -> Self:
        if self._server is not None:
            return self
        settings = self._settings
        if settings.crash_on_start:
            raise EmulatorStartError(_CRASH_MESSAGE, returncode=1)
        try:
            if settings.home is not None:
                initialize_keypair(settings.home, io.StringIO())
            prepare_store(settings, _log.debug)
        except StartupError as error:
            raise EmulatorStartError(f"Error: {error}", returncode=1) from None
        state = EmulatorState(settings)
        server = BackgroundServer(
            create_app(state, log=_log.debug),
            host=settings.host,
            port=settings.port,
            server_header=False,
            graceful_shutdown_s=1,
            lifespan="on",
        )
        state.settings = self._settings = replace(settings, port=server.port)
        self._state, self._server = state, server
        server.start()
        return self

    def stop(self) -> None:
        """Stop serving (releasing stalled responses first) and delete a models directory of its own."""
        if self._state is not None:
            self._state.faults.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._scratch.cleanup()

    @property
    def state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not started; call start() or use it as a context manager")
        return self._state

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def stats(self) -> Stats:
        return self.state.stats


def _clean_environment(base: Mapping[str, str]) -> dict[str, str]:
    # A developer's own Ollama settings must not leak into an emulator a test configured.
    return {k: v for k, v in base.items() if not k.startswith("OLLAMA_")}


class OllamaEmulatorProcess(_EmulatorHandle):
    """``ollama-emulator serve`` in a child process with its own process group; same API as
    :class:`OllamaEmulator` (faults and stats go over ``/_emulator/``).

    ``HOME`` defaults to a scratch directory (the server writes ``~/.ollama/id_ed25519`` there);
    stdout and stderr go to :attr:`log_path`.
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        home: Path | str | None = None,
        startup_timeout: float = 30.0,
        **overrides: Any,
    ) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="ollama-emulator-process-")
        scratch = Path(self._scratch.name)
        self._settings = _resolve_settings(settings, dict(overrides), scratch)
        self.command = list(command or [sys.executable, "-m", "airflow_provider_ollama.testing.cli", "serve"])
        self.extra_env = dict(env or {})
        self.home = Path(home) if home is not None else scratch / "home"
        self.log_path = scratch / "serve.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_text = ""

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"OllamaEmulatorProcess(pid={pid}, url={self.url!r})"

    def environment(self) -> dict[str, str]:
        env = _clean_environment(os.environ)
        env.update(self._settings.to_env())
        env["HOME"] = str(self.home)
        # The server stops by itself if this process dies without stopping it.
        env["OLLAMA_EMULATOR_PARENT_PID"] = str(os.getpid())
        env.update(self.extra_env)
        return env

    def start(self, *, wait_ready: bool = True) -> Self:
        """Launch the process and wait for its ``Listening on`` line (and, by default, for ``HEAD /``
        to answer 200). Raises :class:`EmulatorStartError` with the log if it exits or times out."""
        if self.process is not None:
            return self
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                self.command,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        port = self._wait_for_listening(deadline)
        self._settings = replace(self._settings, port=port)
        if wait_ready:
            self.wait_ready(max(0.0, deadline - time.monotonic()))
        return self

    def _wait_for_listening(self, deadline: float) -> int:
        assert self.process is not None
        while True:
            match = _LISTENING_RE.search(self.logs)
            if match:
                return int(match.group(2))
            code = self.process.poll()
            if code is not None:
                raise EmulatorStartError(
                    f"ollama-emulator serve exited with status {code} before listening:\n{self.logs}",
                    returncode=code,
                    log=self.logs,
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(
                    f"no 'Listening on' line within {self.startup_timeout} s:\n{self.logs}"
                )
            time.sleep(_POLL_S)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``HEAD /`` until it answers 200 (each try short), or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            request = urllib.request.Request(f"{self.url}/", method="HEAD")  # noqa: S310 - loopback http
            try:
                with opener.open(request, timeout=0.5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.process is not None and self.process.poll() is not None:
                raise EmulatorStartError(
                    f"ollama-emulator serve exited with status {self.process.returncode}:\n{self.logs}",
                    returncode=self.process.returncode,
                    log=self.logs,
                )
            if time.monotonic() > deadline:
                raise EmulatorStartError(f"HEAD / did not answer 200 within {timeout} s:\n{self.logs}")
            time.sleep(_POLL_S)

    def send_signal(self, sig: int) -> None:
        """Signal the server's whole process group (as a supervisor stopping ``ollama serve`` would)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; return its status (``subprocess.TimeoutExpired`` otherwise)."""
        assert self.process is not None, "the process was never started"
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL it if it lingers; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.process.wait(_STOP_GRACE_S)
        self._log_text = self.logs
        return self.process.returncode

    def close(self) -> None:
        """Stop and delete the scratch directory (models, home, log)."""
        self.stop()
        self._scratch.cleanup()

    @property
    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return self._log_text

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def faults(self) -> RemoteFaults:
        return RemoteFaults(self.url)

    @property
    def stats(self) -> RemoteStats:
        return RemoteStats(self.url)
