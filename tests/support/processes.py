"""Long-running commands of end-to-end tests, each in a session of its own, and what they leave behind.

A :class:`ServiceProcess` is one command (``airflow standalone``, a scheduler, a Celery worker, Redis)
whose output goes to a log file and whose whole process group can be signalled: stopping it reaches
the children it started. What deliberately leaves that group (a per-task ``ollama serve`` and its
watchdog start sessions of their own) is found by its environment with :func:`processes_with_environment`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

STOP_GRACE_S = 5.0
_POLL_S = 0.1

_Service = TypeVar("_Service", bound="Service")


class Service(ABC):
    """Something a test starts and must stop whatever happens: a context manager around start/stop."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self: _Service) -> _Service:
        try:
            self.start()
        except BaseException:
            self.stop()  # whatever did start before the failure
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class ServiceProcess:
    """``argv`` with ``env``, its stdout and stderr in ``log_path``, in a new session (its own process group)."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it started), its exit status after."""
        return None if self._process is None else self._process.poll()

    @property
    def started(self) -> bool:
        return self._process is not None

    def wait(self, timeout: float) -> int | None:
        """Its exit status once it has ended, or None if it still runs after ``timeout`` seconds."""
        if self._process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(timeout=timeout)
        return None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to every process of its group (it and the children that stayed in the group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds for all of it to go, then SIGKILL what is left."""
        if self._process is None:
            return
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        # Children can outlive the leader (airflow standalone's components shut down after it): wait for all.
        while living_members(self.pid) and time.monotonic() < deadline:
            self.wait(_POLL_S)
        if living_members(self.pid):
            self.signal_group(signal.SIGKILL)
        self.wait(grace)

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    session: int
    command: str


def _info(proc: Path) -> ProcessInfo | None:
    """The process at ``/proc/<pid>``, None if it is gone or a zombie."""
    try:
        # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after its last parenthesis.
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return ProcessInfo(int(proc.name), int(fields[1]), int(fields[2]), int(fields[3]), command)


def living_members(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies."""
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        info = _info(proc)
        if info is not None and info.pgid == group:
            members.append(info.pid)
    return members


def processes_with_environment(name: str, value: str) -> list[ProcessInfo]:
    """Living processes whose environment has ``name=value`` (readable for our own processes)."""
    wanted = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environment = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environment:
            info = _info(proc)
            if info is not None:
                found.append(info)
    return found


def kill_processes(processes: Sequence[ProcessInfo]) -> None:
    """SIGKILL each of ``processes`` (for clean-up after a failed test; never for what a test checks)."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)
