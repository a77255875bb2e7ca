"""Run one example DAG with Airflow's ``dag.test()`` and write what happened as JSON; a child of main_job.py.

A process of its own so that everything Airflow logs goes to the log file main_job.py hands it, while
main_job.py prints a short summary read from the JSON: task states and durations, return values, errors.

    python .ci/run_example_dag.py DAG_ID --conf '{"model": "..."}' --result result.json

The DAG is read from ``$AIRFLOW__CORE__DAGS_FOLDER/<DAG_ID>.py`` (one DAG per file, named after it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument("--conf", default="{}", help="the run's conf as a JSON object")
    parser.add_argument("--result", required=True, type=Path, help="where to write the JSON outcome")
    return parser.parse_args(argv)


def run(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Parse the DAG's file, run it once with ``dag.test()``, and collect its outcome from the metadata DB."""
    from airflow.dag_processing.dagbag import DagBag

    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    bag = DagBag(dag_folder=str(dag_file))
    if bag.import_errors or dag_id not in bag.dags:
        errors = "; ".join(str(error) for error in bag.import_errors.values()) or f"no DAG {dag_id!r} in it"
        return {"dag_id": dag_id, "state": "import_error", "error": f"{dag_file}: {errors}", "tasks": []}
    started = time.monotonic()
    dag_run = bag.dags[dag_id].test(run_conf=conf)
    outcome = _collect(dag_id, dag_run.run_id)
    outcome.update(state=str(dag_run.state), seconds=round(time.monotonic() - started, 1))
    return outcome


def _collect(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tasks: list[dict[str, Any]] = []
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for instance in sorted(
            instances, key=lambda ti: (ti.start_date is None, ti.start_date, ti.map_index)
        ):
            tasks.append(
                {
                    "task_id": instance.task_id,
                    "map_index": instance.map_index,
                    "state": str(instance.state),
                    "seconds": round(instance.duration or 0.0, 1),
                    "tries": instance.try_number,
                }
            )
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
        for row in sorted(rows, key=lambda r: (r.task_id, r.map_index)):
            value = XComModel.deserialize_value(row)
            if row.map_index >= 0:
                xcoms.setdefault(row.task_id, []).append(value)
            else:
                xcoms[row.task_id] = value
    return {"dag_id": dag_id, "run_id": run_id, "tasks": tasks, "xcoms": xcoms}


def main(argv: list[str]) -> int:
    arguments = _parse_arguments(argv)
    try:
        outcome = run(arguments.dag_id, json.loads(arguments.conf))
    except Exception as error:
        traceback.print_exc()
        outcome = {"dag_id": arguments.dag_id, "state": "error", "error": repr(error), "tasks": []}
    arguments.result.write_text(json.dumps(outcome, indent=2, default=str))
    return 0 if outcome["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
