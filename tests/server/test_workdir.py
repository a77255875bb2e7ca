"""Per-task server folders: owned by a marker naming their processes, swept only when provably abandoned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_ollama.server.workdir import (
    ProcessIdentity,
    create_work_dir,
    record_server,
    remove_abandoned_work_dirs,
)


def _exited_process() -> ProcessIdentity:
    """The identity a process had while it ran; it has exited (and been reaped) since."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = ProcessIdentity.of(child.pid)
    child.kill()
    child.wait(10)
    assert identity is not None
    return identity


@pytest.fixture
def sleeper() -> Iterator[ProcessIdentity]:
    """A live process that is not this one (a server still running, say)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = ProcessIdentity.of(child.pid)
    assert identity is not None
    yield identity
    child.kill()
    child.wait(10)


def _abandon(work_dir: Path, owner: ProcessIdentity) -> None:
    """Rewrite ``work_dir``'s marker as if ``owner`` had created it."""
    marker = next(work_dir.glob(".owner*"))
    document = json.loads(marker.read_text())
    document["owner"] = owner.to_json()
    marker.write_text(json.dumps(document))


def test_a_folder_whose_task_died_is_removed_with_everything_in_it(tmp_path: Path) -> None:
    work_dir = create_work_dir(tmp_path)
    (work_dir / "models" / "blobs").mkdir(parents=True)
    (work_dir / "models" / "blobs" / "sha256-00").write_bytes(b"gigabytes, in real life")
    _abandon(work_dir, _exited_process())

    assert remove_abandoned_work_dirs(tmp_path) == [work_dir]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_a_live_task_is_kept(tmp_path: Path) -> None:
    work_dir = create_work_dir(tmp_path)  # owned by this process, which runs
    assert remove_abandoned_work_dirs(tmp_path) == []
    assert work_dir.is_dir()


def test_a_reused_pid_does_not_keep_a_folder_alive(tmp_path: Path) -> None:
    work_dir = create_work_dir(tmp_path)
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    # Same pid as a live process, another start time: the task that wrote it is gone.
    _abandon(work_dir, ProcessIdentity(pid=me.pid, start_time=f"{me.start_time}0", boot_id=me.boot_id))
    assert remove_abandoned_work_dirs(tmp_path) == [work_dir]


def test_a_folder_from_before_a_reboot_is_removed(tmp_path: Path) -> None:
    work_dir = create_work_dir(tmp_path)
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    _abandon(work_dir, ProcessIdentity(pid=me.pid, start_time=me.start_time, boot_id="another-boot"))
    assert remove_abandoned_work_dirs(tmp_path) == [work_dir]


def test_a_folder_whose_task_died_but_whose_server_still_runs_is_kept(
    tmp_path: Path, sleeper: ProcessIdentity
) -> None:
    work_dir = create_work_dir(tmp_path)
    record_server(work_dir, sleeper.pid)
    _abandon(work_dir, _exited_process())
    assert remove_abandoned_work_dirs(tmp_path) == []
    assert work_dir.is_dir()


def test_a_folder_made_in_another_pid_namespace_is_left_alone(tmp_path: Path) -> None:
    # A container sharing the temporary folder: its pids are not ours to look up.
    work_dir = create_work_dir(tmp_path)
    _abandon(work_dir, _exited_process())
    marker = next(work_dir.glob(".owner*"))
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "pid_namespace": "pid:[1]"}))
    assert remove_abandoned_work_dirs(tmp_path) == []
    assert work_dir.is_dir()


def test_folders_without_a_readable_marker_or_with_another_name_are_never_touched(tmp_path: Path) -> None:
    unmarked = tmp_path / "ollama-server-unmarked"
    unmarked.mkdir()
    (unmarked / "server.log").write_text("an older version's log")
    garbled = create_work_dir(tmp_path)
    next(garbled.glob(".owner*")).write_text("{not json")
    other = tmp_path / "someone-elses"
    other.mkdir()
    lone_file = tmp_path / "ollama-server-file"
    lone_file.write_text("")

    assert remove_abandoned_work_dirs(tmp_path) == []
    assert {path.name for path in tmp_path.iterdir()} == {
        unmarked.name,
        garbled.name,
        other.name,
        lone_file.name,
    }


def test_a_missing_root_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert remove_abandoned_work_dirs(tmp_path / "absent") == []
