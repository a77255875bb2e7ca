"""Act from another thread when ``dag.test()`` starts a given try of a task (e.g. bring a server back)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_when_try_starts(
    dag_id: str, task_id: str, try_number: int, action: Callable[[], object], *, timeout: float = 120
) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that calls ``action`` once the task's ``try_number`` reaches ``try_number``.

    dag.test() raises the try number when it schedules a retry, after the failed try has ended, so the
    action cannot race the try before it. The metadata database must be migrated first; models and
    mappers are loaded here, on the caller's thread (loading them on two threads at once can deadlock).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    of_task = select(TaskInstance.id).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
    with create_session() as session:
        earlier_runs = set(session.scalars(of_task).all())
    query = select(TaskInstance.id, TaskInstance.try_number).where(
        TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id
    )
    reached = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with create_session() as session:
                    rows = session.execute(query).all()
            except Exception:  # SQLite answers "database is locked" while dag.test() writes; ask again
                rows = []
            if any(current >= try_number for ti_id, current in rows if ti_id not in earlier_runs):
                reached.set()
                action()
                return
            time.sleep(0.05)  # polling interval of the watcher, not a synchronisation

    watcher = threading.Thread(target=watch, name=f"watch-{task_id}-try-{try_number}", daemon=True)
    watcher.start()
    return watcher, reached
