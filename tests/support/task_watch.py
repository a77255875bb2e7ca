"""Act from another thread when a task of a running ``dag.test()`` reaches a point (a try, a deferral).

Tests use it to change the world at that moment, e.g. start the server a deferred sensor waits for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def run_when_try_starts(
    dag_id: str, task_id: str, try_number: int, action: Callable[[], object], *, timeout: float = 120
) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that calls ``action`` once the task's ``try_number`` reaches ``try_number``.

    dag.test() raises the try number when it schedules a retry, after the failed try has ended, so the
    action cannot race the try before it. Runs of the task from before this call do not count.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(TaskInstance.id, TaskInstance.try_number).where(
        TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id
    )
    _load_models()
    with create_session() as session:
        earlier_runs = {ti_id for ti_id, _ in session.execute(query).all()}

    def reached(session: Session) -> bool:
        rows = session.execute(query).all()
        return any(current >= try_number for ti_id, current in rows if ti_id not in earlier_runs)

    return _watch(f"watch-{task_id}-try-{try_number}", reached, action, timeout)


def run_when_deferred(
    dag_id: str, task_id: str, action: Callable[[], object], *, timeout: float = 120
) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that calls ``action`` once the task has deferred; the event says it did.

    The sign is the trigger row the task instance points at: ``dag.test()`` puts a deferred task back
    to "queued" at once to run its trigger inline, so the "deferred" state itself is too brief to see.
    """
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    query = select(TaskInstance.trigger_id).where(
        TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id, TaskInstance.trigger_id.is_not(None)
    )

    def deferred(session: Session) -> bool:
        return session.scalars(query).first() is not None

    return _watch(f"watch-{task_id}-deferral", deferred, action, timeout)


def _watch(
    name: str, condition: Callable[[Session], bool], action: Callable[[], object], timeout: float
) -> tuple[threading.Thread, threading.Event]:
    """Poll ``condition`` in a new thread until it holds (then call ``action``) or ``timeout`` passes."""
    from airflow.utils.session import create_session

    _load_models()
    happened = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with create_session() as session:
                    holds = condition(session)
            except Exception:  # SQLite answers "database is locked" while dag.test() writes: ask again
                holds = False
            if holds:
                happened.set()
                action()
                return
            time.sleep(0.05)  # polling interval of the watcher, not a synchronisation

    watcher = threading.Thread(target=watch, name=name, daemon=True)
    watcher.start()
    return watcher, happened


def _load_models() -> None:
    """Load Airflow's models and mappers on the caller's thread (the metadata database must be migrated).

    Loading them on the watcher while dag.test() loads them too can deadlock.
    """
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
