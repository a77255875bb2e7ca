"""The temporary directory of a per-task server (its model store and HOME), and the sweep of abandoned ones.

Each directory carries a marker naming the task process that made it and the server it runs, each by pid
*and* start time (and the machine's boot), so a pid the system handed to someone else later never makes a
dead task look alive. A directory is removed by the sweep only when its marker proves both are gone; one
made in another PID namespace (a container sharing the temporary folder) cannot be judged, and stays.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_ollama.server._watchdog import group_exists

log = logging.getLogger(__name__)

WORK_DIR_PREFIX = "ollama-server-"
_MARKER = ".owner.json"
_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"
_PID_NAMESPACE = _PROC / "self" / "ns" / "pid"


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from a later one with the same pid by its start time and the boot.

    ``start_time`` (clock ticks after boot, from ``/proc/<pid>/stat``) and ``boot_id`` are None where the
    system does not expose them; such an identity counts as alive while its pid exists.
    """

    pid: int
    start_time: str | None = None
    boot_id: str | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the running process ``pid``; None when there is none."""
        if not _pid_exists(pid):
            return None
        return cls(pid, _start_time(pid), _boot_id())

    def is_alive(self) -> bool:
        """Whether this very process still runs (a reused pid, a reboot or a zombie mean it does not)."""
        if not _pid_exists(self.pid):
            return False
        if self.boot_id is not None and self.boot_id != _boot_id():
            return False
        return self.start_time is None or self.start_time == _start_time(self.pid)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "boot_id": self.boot_id}

    @classmethod
    def from_json(cls, document: Any) -> ProcessIdentity:
        if not isinstance(document, dict) or not isinstance(document.get("pid"), int):
            raise ValueError(f"not a process identity: {document!r}")
        start_time, boot_id = document.get("start_time"), document.get("boot_id")
        return cls(
            document["pid"],
            start_time if isinstance(start_time, str) else None,
            boot_id if isinstance(boot_id, str) else None,
        )


def create_work_dir(root: Path | None = None) -> Path:
    """A new private directory under ``root`` (default: the system's temporary folder), marked as this
    process's."""
    work_dir = Path(tempfile.mkdtemp(prefix=WORK_DIR_PREFIX, dir=root))
    owner = ProcessIdentity.of(os.getpid())
    assert owner is not None  # this process runs
    _write_marker(work_dir, {"owner": owner.to_json(), "server": None, "pid_namespace": _pid_namespace()})
    return work_dir


def record_server(work_dir: Path, pid: int) -> None:
    """Add the server ``pid`` (also its process group) to the marker: while it runs, the folder is in use."""
    server = ProcessIdentity.of(pid) or ProcessIdentity(pid)
    document = _read_marker(work_dir) or {}
    _write_marker(work_dir, {**document, "server": server.to_json()})


def remove_work_dir(work_dir: Path) -> None:
    """Remove ``work_dir`` and everything in it; a directory already gone is fine."""
    shutil.rmtree(work_dir, ignore_errors=True)


def remove_abandoned_work_dirs(root: Path | None = None) -> list[Path]:
    """Remove the per-task server directories under ``root`` whose task and server are both gone.

    Only directories of this user with a readable marker qualify; anything else (another user's, an older
    version's without a marker, a live server's) is left alone. Returns what was removed.
    """
    root = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = sorted(root.glob(f"{WORK_DIR_PREFIX}*"))
    except OSError:
        return removed
    for candidate in candidates:
        if _is_abandoned(candidate):
            remove_work_dir(candidate)
            removed.append(candidate)
    if removed:
        log.info(
            "Removed %d folder(s) that killed per-task Ollama servers left in %s: %s",
            len(removed),
            root,
            ", ".join(path.name for path in removed),
        )
    return removed


def _is_abandoned(candidate: Path) -> bool:
    try:
        if candidate.is_symlink() or not candidate.is_dir() or candidate.stat().st_uid != os.getuid():
            return False
    except OSError:
        return False
    document = _read_marker(candidate)
    if document is None or document.get("pid_namespace") != _pid_namespace():
        return False  # pids of another namespace mean other processes here: no proof either way
    try:
        owner = ProcessIdentity.from_json(document.get("owner"))
        server = None if document.get("server") is None else ProcessIdentity.from_json(document["server"])
    except ValueError:
        return False
    if owner.is_alive():
        return False
    # The server leads its own process group: runners left in it may still write into the store.
    return server is None or not (server.is_alive() or group_exists(server.pid))


def _write_marker(work_dir: Path, document: dict[str, Any]) -> None:
    # Written whole, then renamed: a sweep never reads half a marker.
    partial = work_dir / f"{_MARKER}.partial"
    partial.write_text(json.dumps(document))
    partial.replace(work_dir / _MARKER)


def _read_marker(work_dir: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((work_dir / _MARKER).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _pid_exists(pid: int) -> bool:
    """Whether a process (not a zombie) has ``pid``; another user's counts."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] not in {"Z", "X"}


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat``: when the process started, in clock ticks after boot."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None without /proc."""
    with contextlib.suppress(OSError):
        # "pid (comm) state ..." where comm may hold spaces: split after the last ')'.
        return (_PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    return None


def _pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[4026531836]``); None where the system does not say."""
    with contextlib.suppress(OSError):
        return os.readlink(_PID_NAMESPACE)
    return None


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return _BOOT_ID.read_text().strip()
    return None
