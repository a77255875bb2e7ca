"""``ollama-emulator``: a stand-in for the ``ollama`` binary (``serve``) and the registry emulator.

Anything that launches ``ollama serve`` can launch ``ollama-emulator serve`` instead: same
environment variables, same log lines, same exit behaviour. Kept import-light so ``HEAD /`` answers
well within a second of start; Airflow is never imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from airflow_provider_ollama.testing.emulator.settings import EMULATED_VERSION, EmulatorSettings

_HELP = """\
Usage:
  ollama-emulator serve              Start the emulated Ollama server (like `ollama serve`)
  ollama-emulator registry [...]     Start the registry emulator (`registry --help` for options)
  ollama-emulator --version          Print the emulated Ollama version

Ollama environment variables (same meaning as for `ollama serve`):
  OLLAMA_HOST                IP address and port to listen on (default 127.0.0.1:11434; port 0 picks a free one)
  OLLAMA_MODELS              The path to the models directory (default ~/.ollama/models)
  OLLAMA_KEEP_ALIVE          How long models stay loaded (default "5m"; seconds or a Go duration, -1 forever)
  OLLAMA_NUM_PARALLEL        Maximum number of parallel requests per model (default 1)
  OLLAMA_MAX_QUEUE           Maximum number of queued requests (default 512; more get 503)
  OLLAMA_MAX_LOADED_MODELS   Maximum number of loaded models (default 3)
  OLLAMA_CONTEXT_LENGTH      Default context length (default 4096)
  OLLAMA_NOPRUNE             Do not prune unused blobs on startup
  HOME                       Where ~/.ollama/id_ed25519 is created at start (must be writable)

Emulator-only environment variables:
  OLLAMA_EMULATOR_REGISTRY            Registry URL for names without a host (e.g. http://127.0.0.1:5000)
  OLLAMA_EMULATOR_VERSION             Version reported by /api/version (default {version})
  OLLAMA_EMULATOR_LOAD_SECONDS        Time to load a model
  OLLAMA_EMULATOR_FIRST_TOKEN_SECONDS Time to the first token of an answer
  OLLAMA_EMULATOR_TOKENS_PER_SECOND   Generation speed (0 = as fast as possible)
  OLLAMA_EMULATOR_REQUEST_LATENCY     Fixed extra seconds per generate/chat/embed request
  OLLAMA_EMULATOR_NUM_THREAD          CPU threads of a real model's runner when a request sets no num_thread
                                      (default 1; 0 lets llama.cpp take every core, as Ollama does)
  OLLAMA_EMULATOR_GPU                 Report loaded models as fully in VRAM
  OLLAMA_EMULATOR_TOKEN               Require "Authorization: Bearer <token>" (401 otherwise)
  OLLAMA_EMULATOR_START_DELAY         Listen at once but answer HTTP only after this many seconds
  OLLAMA_EMULATOR_CRASH_ON_START      Log an error and exit 1 instead of serving
  OLLAMA_EMULATOR_PULL_TIME_SCALE     Multiply pull/push retry and stall timings (e.g. 0.01 in tests)
  OLLAMA_EMULATOR_PARENT_PID          Stop (exit 0) when this process is no longer the parent

Emulator control endpoints (not part of Ollama's API): GET|POST /_emulator/faults,
GET /_emulator/stats, POST /_emulator/stats/reset, POST /_emulator/reset, GET /_emulator/info.
"""


def _print_help() -> None:
    sys.stdout.write(_HELP.format(version=EMULATED_VERSION))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ollama-emulator`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _print_help()
        return 0 if args else 1
    command, rest = args[0], args[1:]
    if command in ("-v", "--version", "version"):
        print(f"ollama version is {EmulatorSettings.from_env().version}")
        return 0
    if command == "serve":
        if rest and rest[0] in ("-h", "--help"):
            _print_help()
            return 0
        if rest:
            sys.stderr.write(f"Error: unknown flag: {rest[0]}\n")
            return 1
        return serve()
    if command == "registry":
        from airflow_provider_ollama.testing.registry.command import run_registry_cli

        return run_registry_cli(rest)
    sys.stderr.write(f'Error: unknown command "{command}" for "ollama-emulator"\n')
    return 1


class _StderrSlogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from airflow_provider_ollama.testing.emulator.startup import slog_line

        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        source = f"{Path(record.pathname).name}:{record.lineno}"
        _write_stderr(slog_line(record.levelname.replace("WARNING", "WARN"), source, message))


_stderr_lock = threading.Lock()


def _write_stderr(line: str) -> None:
    with _stderr_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def serve() -> int:
    """``ollama serve``: key pair, listen, prepare the store, log ``Listening on``, serve until a signal."""
    started = time.monotonic()
    from airflow_provider_ollama.testing.emulator.startup import StartupError, initialize_keypair, slog_line

    settings = EmulatorSettings.from_env()
    logger = logging.getLogger("airflow_provider_ollama.testing.emulator")
    logger.addHandler(_StderrSlogHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        initialize_keypair(Path(os.environ.get("HOME") or Path.home()))
        sock = _listen(settings.host, settings.port)
    except StartupError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    _write_stderr(slog_line("INFO", "routes.go:1331", "server config", env=_env_summary()))
    if settings.crash_on_start:
        _write_stderr(slog_line("ERROR", "routes.go:1390", "unable to start server: emulated crash on start"))
        sys.stderr.write("Error: unable to start server: emulated crash (OLLAMA_EMULATOR_CRASH_ON_START=1)\n")
        return 1
    return _run(settings, sock, started)


def _env_summary() -> str:
    keys = sorted(key for key in os.environ if key.startswith("OLLAMA_") and key != "OLLAMA_EMULATOR_TOKEN")
    return "map[" + " ".join(f"{key}:{os.environ[key]}" for key in keys) + "]"


def _listen(host: str, port: int) -> socket.socket:
    from airflow_provider_ollama.testing._serving import bind_socket
    from airflow_provider_ollama.testing.emulator.startup import StartupError

    try:
        sock = bind_socket(host, port)
        sock.listen(socket.SOMAXCONN)
    except OSError as error:
        reason = "address already in use" if error.errno == 98 else (error.strerror or str(error)).lower()
        raise StartupError(f"listen tcp {host}:{port}: bind: {reason}") from None
    return sock


def _run(settings: EmulatorSettings, sock: socket.socket, started: float) -> int:
    from dataclasses import replace

    import uvicorn

    from airflow_provider_ollama.testing._serving import make_uvicorn_server
    from airflow_provider_ollama.testing.emulator.app import create_app
    from airflow_provider_ollama.testing.emulator.startup import StartupError, prepare_store, slog_line
    from airflow_provider_ollama.testing.emulator.state import EmulatorState

    host, port = sock.getsockname()[:2]
    settings = replace(settings, port=port)
    try:
        prepare_store(settings, _write_stderr)
    except StartupError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    state = EmulatorState(settings, exit_allowed=True)
    state.ready_at = time.monotonic() + settings.start_delay_seconds
    app = create_app(state, log=_write_stderr)
    shown_host = f"[{host}]" if ":" in host else host
    _write_stderr(
        slog_line("INFO", "routes.go:1384", f"Listening on {shown_host}:{port} (version {settings.version})")
    )

    class OllamaLikeServer(uvicorn.Server):
        """Exit 0 on SIGINT/SIGTERM like ``ollama serve`` (uvicorn re-raises the signal after stopping)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self._stop) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def _stop(self, signum: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    server = make_uvicorn_server(
        app, server_header=False, graceful_shutdown_s=1, server_class=OllamaLikeServer, lifespan="on"
    )
    _log_startup_time(started)
    _stop_when_parent_exits(os.environ.get(PARENT_PID_VARIABLE, ""))
    server.run(sockets=[sock])
    return 0


#: Set by ``OllamaEmulatorProcess``: the emulator stops when that process is gone, so a test run
#: that dies without cleaning up leaves no server behind.
PARENT_PID_VARIABLE = "OLLAMA_EMULATOR_PARENT_PID"
_PARENT_POLL_S = 0.5


def _stop_when_parent_exits(parent: str) -> None:
    if not parent.isdigit():
        return
    parent_pid = int(parent)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent_pid:
                _write_stderr("parent process exited; stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _log_startup_time(started: float) -> None:
    logging.getLogger("airflow_provider_ollama.testing.emulator").debug(
        "emulator ready to serve %.3f s after start", time.monotonic() - started
    )


if __name__ == "__main__":
    raise SystemExit(main())
