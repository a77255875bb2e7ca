"""Kill a per-task server's process group when the task process dies without stopping it.

Started by file path with ``python -I -S`` (stdlib only, so it starts in milliseconds and never imports
Airflow) in a session of its own, so signals aimed at the task's process group do not take it out too.

Protocol: the task holds the write end of a pipe whose read end this process watches. The task writes
``disarm`` once it has stopped the server itself; end-of-file without that word, or a change of parent
(the task died and this process was re-parented), means the task is gone: SIGTERM the server's group,
SIGKILL whatever is left after the grace period, then remove the server's temporary directory (its model
store and HOME), so a killed task leaves nothing on disk either. A pipe notices the death of the whole
task process, unlike ``PR_SET_PDEATHSIG``, which fires when the *thread* that started the child ends.

A task whose own parent dies is abandoned too: when a Celery worker is SIGKILLed, its pool processes and
the task supervisors in them die with it (``PR_SET_PDEATHSIG``), but the task processes they forked run
on, unsupervised, until their code ends (since Airflow 3.3 they even have process groups of their own, so
killing the worker's group misses them too); Airflow fails such a try once its heartbeats stop and
retries it elsewhere. So when the task process's parent changes (read from /proc, where there is one),
the server goes as well.

Usage: ``python -I -S _watchdog.py <read fd> <parent pid> <server process group> <grace seconds> <dir or "">
[<the parent's parent pid>]``
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

_DISARM = b"disarm"
# How often the parent pid is compared, for the case where a forked child of the task keeps the pipe open.
_PARENT_CHECK_S = 0.2
_GROUP_POLL_S = 0.05


_PROC = Path("/proc")


def group_exists(pgid: int) -> bool:
    """Whether any live process (zombies do not count) is in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id now belongs to someone else's processes: ours are gone
        return False
    if not _PROC.is_dir():
        return True
    # A re-parented server that exited stays a zombie until its new parent reaps it, which a container's
    # init may never do: killpg() still finds it, /proc tells it apart.
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after the last ')'.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
                return True
    return False


def kill_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, then SIGKILL it if anything is still there after ``grace_s``."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_exists(pgid):
        time.sleep(_GROUP_POLL_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def remove_directory(directory: str) -> None:
    """Remove the server's temporary directory, once nothing of the server can write into it."""
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def parent_of(pid: int) -> int | None:
    """The parent of process ``pid`` (from ``/proc``), None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # pid (comm) state ppid ...: comm may hold spaces, so split after its last parenthesis.
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def watch(
    read_fd: int, parent_pid: int, pgid: int, grace_s: float, directory: str = "", grandparent_pid: int = 0
) -> int:
    """Block until the task disarms us (exit 0), dies or is orphaned (kill the group, remove its directory, exit 0)."""
    received = b""
    while True:
        readable, _, _ = select.select([read_fd], [], [], _PARENT_CHECK_S)
        if readable:
            chunk = os.read(read_fd, 64)
            if not chunk:
                break
            received += chunk
            if _DISARM in received:
                return 0
        if os.getppid() != parent_pid:
            break
        if grandparent_pid > 0 and parent_of(parent_pid) not in (None, grandparent_pid):
            break
    kill_group(pgid, grace_s)
    remove_directory(directory)
    return 0


def main(argv: list[str]) -> int:
    read_fd, parent_pid, pgid, grace_s = int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    directory = argv[5] if len(argv) > 5 else ""
    grandparent_pid = int(argv[6]) if len(argv) > 6 else 0
    # A terminal's Ctrl-C must not disarm the protection; SIGTERM means "go now, take the server with you".
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _on_term(_signum: int, _frame: object) -> None:
        kill_group(pgid, grace_s)
        remove_directory(directory)
        sys.exit(0)

    signal.signal(signal.SIGTERM, _on_term)
    return watch(read_fd, parent_pid, pgid, grace_s, directory, grandparent_pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
