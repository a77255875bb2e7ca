"""Supervise one ``ollama serve`` process: its own process group, drained output, guaranteed stop.

The server runs in a new session so that stopping it reaches the model runners it spawns too; a watchdog
process kills that group (and removes the server's directory) if the task process dies first, or loses its
own parent (the task supervisor that a killed Celery worker takes with it); a reader thread drains its
output into the task log (and a file, if asked) so the server never blocks on a full pipe.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from airflow_provider_ollama.exceptions import OllamaServerStartError

log = logging.getLogger(__name__)

_WATCHDOG_SCRIPT = Path(__file__).with_name("_watchdog.py")
_POSIX = os.name == "posix"
_TAIL_LINES = 200
_MAX_LINE_BYTES = 64 * 1024
_AFTER_KILL_WAIT_S = 5.0
_THREAD_JOIN_S = 2.0
# `Listening on 127.0.0.1:41234 (version 0.12.6)`: real Ollama prints the bound address, port 0 resolved.
_LISTENING_RE = re.compile(r"Listening on \[?[0-9A-Za-z.:%-]*?\]?:(\d+)")
_LEVEL_RE = re.compile(r"\blevel=(DEBUG|INFO|WARN|WARNING|ERROR)\b")
_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
# Ollama prints its environment at start; a proxy URL there may carry a password.
_URL_CREDENTIALS_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def redact_line(line: str) -> str:
    """``line`` with ``user:password@`` removed from any URL in it."""
    return _URL_CREDENTIALS_RE.sub(r"\g<scheme>***@", line)


class ServerProcess:
    """One supervised server process; :meth:`stop` is idempotent, thread-safe and safe in signal handlers.

    :param argv: the command, e.g. ``["/usr/bin/ollama", "serve"]``.
    :param env: its complete environment.
    :param log_path: a file that also receives every line the process prints; default: the logger only.
    :param scratch_dir: a directory that belongs to this process alone (its model store, HOME): removed
        once the process is stopped, by :meth:`stop`, or by the watchdog if the task process dies first.
    :param stop_timeout: seconds between SIGTERM and SIGKILL.
    :param logger: where each output line goes (default: this module's logger, i.e. the task log).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path | None = None,
        scratch_dir: Path | None = None,
        cwd: Path | None = None,
        stop_timeout: float = 10.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self.log_path = log_path
        self._scratch_dir = scratch_dir
        self._cwd = cwd
        self._stop_timeout = stop_timeout
        self._logger = logger or log
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._watchdog_pipe: int | None = None
        self._reader: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._port: int | None = None
        self._port_or_eof = threading.Event()
        self._stopped = False

    # --- starting -------------------------------------------------------------------------------

    def start(self) -> None:
        """Launch the process, its output reader and (on POSIX) its watchdog."""
        with self._lock:
            if self._process is not None:
                raise RuntimeError("this server process was already started")
            # The reader thread owns the file and closes it.
            log_file = None if self.log_path is None else open(self.log_path, "ab")  # noqa: SIM115
            try:
                self._process = subprocess.Popen(
                    self._argv,
                    env=self._env,
                    cwd=self._cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                    # A new session makes the server the leader of a process group that its runners join.
                    start_new_session=_POSIX,
                )
            except OSError as error:
                if log_file is not None:
                    log_file.close()
                raise OllamaServerStartError(f"Could not run {self._argv[0]!r}: {error}") from error
            assert self._process.stdout is not None
            self._reader = threading.Thread(
                target=self._drain,
                args=(self._process.stdout, log_file),
                name=f"ollama-serve-{self._process.pid}-output",
                daemon=True,
            )
            self._reader.start()
            if _POSIX:
                self._start_watchdog(self._process.pid)
            else:
                self._logger.warning(
                    "Process groups and the watchdog need a POSIX system: the server is stopped when the "
                    "task ends normally or is killed gracefully, but not if the task process is killed hard."
                )

    def _start_watchdog(self, pgid: int) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self._watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    str(_WATCHDOG_SCRIPT),
                    str(read_fd),
                    str(os.getpid()),
                    str(pgid),
                    str(self._stop_timeout),
                    str(self._scratch_dir or ""),
                    # The task's supervisor: if it dies, the task is abandoned and the server must go.
                    str(os.getppid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(read_fd,),
                start_new_session=True,
            )
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._watchdog_pipe = write_fd

    def _drain(self, stream: IO[bytes], log_file: IO[bytes] | None) -> None:
        """Copy every output line to the task log, the tail buffer and the log file (if any) until EOF."""
        try:
            with log_file or contextlib.nullcontext():
                for raw in iter(lambda: stream.readline(_MAX_LINE_BYTES), b""):
                    line = redact_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    if log_file is not None:
                        log_file.write(line.encode() + b"\n")
                        log_file.flush()
                    self._tail.append(line)
                    if self._port is None and (match := _LISTENING_RE.search(line)):
                        self._port = int(match.group(1))
                        self._port_or_eof.set()
                    self._forward(line)
        finally:
            stream.close()
            self._port_or_eof.set()

    def _forward(self, line: str) -> None:
        level_match = _LEVEL_RE.search(line)
        level = _LEVELS[level_match.group(1)] if level_match else logging.INFO
        # One [GIN] line per HTTP request would bury the task log during a batch; the file keeps them.
        if line.startswith("[GIN]"):
            level = logging.DEBUG
        self._logger.log(level, "ollama serve: %s", line)

    # --- observing ------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def poll(self) -> int | None:
        """The exit code, or None while the process runs (or was never started)."""
        return None if self._process is None else self._process.poll()

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the process to exit; its exit code, or None if still running."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_for_port(self, timeout: float) -> int | None:
        """The port from the ``Listening on`` line; None if it has not appeared within ``timeout``."""
        self._port_or_eof.wait(timeout)
        return self._port

    def wait_for_output_end(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds until every line the process printed has been read."""
        if self._reader is not None:
            self._reader.join(timeout)

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has completed."""
        return self._stopped

    def tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines the process printed."""
        return list(self._tail)[-lines:]

    # --- stopping -------------------------------------------------------------------------------

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL it after the grace period, remove the scratch directory;
        return the exit code.

        Safe to call again after an interruption (an ``execution_timeout`` alarm, ``on_kill`` from a signal
        handler): every step tolerates having been done already.
        """
        with self._lock:
            process = self._process
            if process is None or self._stopped:
                return None if process is None else process.returncode
            if process.poll() is None:
                self._signal_group(process, signal.SIGTERM)
                try:
                    process.wait(self._stop_timeout)
                except subprocess.TimeoutExpired:
                    self._logger.warning(
                        "ollama serve (pid %s) ignored SIGTERM for %.0f s; sending SIGKILL",
                        process.pid,
                        self._stop_timeout,
                    )
            # Runners that outlived the server would keep holding GPU memory.
            self._signal_group(process, signal.SIGKILL)
            try:
                process.wait(_AFTER_KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                self._logger.error("ollama serve (pid %s) survived SIGKILL", process.pid)
            if self._reader is not None:
                self._reader.join(_THREAD_JOIN_S)
            # Before disarming: should the task die while this runs, the watchdog finishes the removal.
            if self._scratch_dir is not None:
                shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._disarm_watchdog()
            self._stopped = True
            return process.returncode

    def _signal_group(self, process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
        if not _POSIX:
            if process.poll() is None and signum == signal.SIGTERM:
                process.terminate()
            elif process.poll() is None:
                process.kill()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def _disarm_watchdog(self) -> None:
        if self._watchdog_pipe is not None:
            with contextlib.suppress(OSError):
                os.write(self._watchdog_pipe, b"disarm")
            os.close(self._watchdog_pipe)
            self._watchdog_pipe = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(_THREAD_JOIN_S)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait(_THREAD_JOIN_S)
