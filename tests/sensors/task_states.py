"""Act on a task's deferral from another thread while ``dag.test()`` runs the DAG."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_when_deferred(
    dag_id: str, task_id: str, action: Callable[[], object], *, timeout: float = 120
) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that calls ``action`` once the task has deferred; the event says it did.

    The sign is the trigger row the task instance points at: ``dag.test()`` puts a deferred task back
    to "queued" at once to run its trigger inline, so the "deferred" state itself is too brief to see.
    The metadata database must be migrated first. Models and mappers are loaded here, on the caller's
    thread, because importing them from the watcher while dag.test() imports them too can deadlock.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    query = select(TaskInstance.trigger_id).where(
        TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id, TaskInstance.trigger_id.is_not(None)
    )
    deferred = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with create_session() as session:
                    found = session.scalars(query).first()
            except Exception:  # SQLite answers "database is locked" while dag.test() writes: ask again
                found = None
            if found is not None:
                deferred.set()
                action()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, name=f"watch-{task_id}-deferral", daemon=True)
    watcher.start()
    return watcher, deferred
