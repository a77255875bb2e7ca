"""Run DAGs with Airflow's own ``dag.test()`` and read back what they produced.

``dag.test()`` only runs DAGs whose file lives in the configured DAGs folder, and that folder must
hold nothing but DAG files. Each test process therefore gets a DAGs folder of its own (set up in
tests/conftest.py) into which :func:`install_dag_file` links the file a test needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DagRunResult:
    """Outcome of one DAG run: overall state, each task's state, and every return value."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str] = field(default_factory=dict)
    #: task_id -> return value; for mapped tasks, task_id -> list ordered by map_index.
    xcoms: dict[str, Any] = field(default_factory=dict)
    #: (task_id, key) -> value for XComs pushed under keys other than return_value.
    extra_xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: task label -> seconds from the task's start to its end (deferral included), as Airflow recorded them.
    durations: dict[str, float] = field(default_factory=dict)

    def assert_success(self) -> None:
        assert self.state == "success", f"DAG run {self.run_id} ended {self.state}: {self.task_states}"


def migrate_metadata_db() -> None:
    """``airflow db migrate`` into this process's AIRFLOW_HOME (SQLite), once per test process."""
    marker = Path(os.environ["AIRFLOW_HOME"]) / ".migrated"
    if marker.exists():
        return
    airflow = Path(sys.executable).with_name("airflow")
    completed = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{completed.stdout}\n{completed.stderr}")
    marker.touch()


def install_dag_file(source: Path) -> Path:
    """Copy a DAG file into this process's DAGs folder (if not there already); return its new path."""
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    target = dags_folder / source.name
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    return target


def run_dag(dag_file: Path, dag_id: str, *, conf: dict[str, Any] | None = None) -> DagRunResult:
    """Run ``dag_id`` from ``dag_file`` once with ``dag.test()`` and collect states and XComs."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1 keeps it in airflow.models
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    migrate_metadata_db()
    installed = install_dag_file(dag_file)
    bag = DagBag(dag_folder=str(installed))
    assert not bag.import_errors, f"{dag_file.name} failed to import: {bag.import_errors}"
    dag = bag.dags[dag_id]
    run = dag.test(run_conf=conf)
    return _collect(dag_id, run.run_id, str(run.state))


def _collect(dag_id: str, run_id: str, state: str) -> DagRunResult:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    result = DagRunResult(dag_id=dag_id, run_id=run_id, state=state)
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for instance in sorted(instances, key=lambda ti: (ti.task_id, ti.map_index)):
            label = (
                instance.task_id if instance.map_index < 0 else f"{instance.task_id}[{instance.map_index}]"
            )
            result.task_states[label] = str(instance.state)
            if instance.start_date is not None and instance.end_date is not None:
                result.durations[label] = (instance.end_date - instance.start_date).total_seconds()
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        ).all()
        for row in sorted(rows, key=lambda r: (r.task_id, r.map_index)):
            value = XComModel.deserialize_value(row)
            if row.key != "return_value":
                result.extra_xcoms[(row.task_id, row.key)] = value
            elif row.map_index >= 0:
                result.xcoms.setdefault(row.task_id, []).append(value)
            else:
                result.xcoms[row.task_id] = value
    return result
