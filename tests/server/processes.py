"""Test helpers for process supervision: wait for a PID to be gone, and write stand-in server scripts.

Stand-in scripts cause faults the emulator has no switch for (a server ignoring SIGTERM, runner children,
megabytes of output); everything else runs against the emulator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def is_gone(pid: int) -> bool:
    """True when no live process has ``pid`` (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        # /proc/<pid>/stat: "pid (comm) STATE ..."; comm may contain spaces, so split after the ')'.
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in {"Z", "X"}


def wait_until_gone(pid: int, timeout: float) -> bool:
    """Whether ``pid`` disappeared within ``timeout`` seconds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.02)
    return is_gone(pid)


def write_script(path: Path, body: str) -> Path:
    """An executable Python script at ``path`` running ``body``; ``argv[1]`` is usually ``serve``."""
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def read_marked_pid(stream: IO[str], marker: str) -> int:
    """The PID a child printed as ``<marker><pid>``, skipping its log lines (EOF means it died first)."""
    for line in stream:
        if line.startswith(marker):
            return int(line[len(marker) :])
    raise AssertionError(f"the child exited without printing {marker}<pid>")


def kill_leftover_group(pgid: int | None) -> None:
    """After a failed orphan test: SIGKILL the server group it left, so one failure does not leak processes."""
    if pgid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


SERVER_PID_MARKER = "SERVER_PID="


@contextlib.contextmanager
def task_process(code: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run ``code`` in a child Python standing for a task process; it must print ``SERVER_PID=<pid>``.

    Yields the child and the server PID it printed. Afterwards the child is killed and, should a test have
    failed, the server group it left too.
    """
    task = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
    server_pid = None
    try:
        assert task.stdout is not None
        server_pid = read_marked_pid(task.stdout, SERVER_PID_MARKER)
        yield task, server_pid
    finally:
        task.kill()
        task.wait(10)
        kill_leftover_group(server_pid)


def sigkill_and_wait(task: subprocess.Popen[str]) -> None:
    """Kill the task process the hard way (nothing in it can react) and reap it."""
    task.kill()
    task.wait(10)


def watchdog_pids(server_pgid: int) -> list[int]:
    """PIDs of the watchdog processes guarding the server group ``server_pgid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"_watchdog.py") for part in argv) and str(server_pgid).encode() in argv:
            found.append(int(entry.name))
    return found


def wait_until_removed(path: Path, timeout: float) -> bool:
    """Whether ``path`` disappeared within ``timeout`` seconds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not path.exists():
            return True
        time.sleep(0.02)
    return not path.exists()
