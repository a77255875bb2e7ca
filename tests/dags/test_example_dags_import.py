"""Every example DAG in dags/ imports cleanly: no import errors, no deprecation or future warnings.

The folder is parsed by Airflow's own DagBag in a fresh interpreter (so import-time warnings fire) with
``-W error`` for DeprecationWarning and FutureWarning (Airflow's DeprecatedImportWarning is one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.dag_runs import REPO_ROOT

EXAMPLES = REPO_ROOT / "dags"

# Airflow is imported before the warnings become errors: what it says about its own start-up is not
# the examples' to fix. Everything the DAG files import and do is checked.
_PARSE_FOLDER = """
import json, sys, warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Airflow 3.1 warns about its own imports here
    import airflow.sdk
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.simplefilter("error", category)
    bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
}))
"""


def _example_files() -> list[str]:
    return sorted(path.stem for path in EXAMPLES.glob("*.py") if path.stem.startswith("example_"))


@pytest.mark.smoke
def test_every_example_dag_imports_without_errors_or_deprecation_warnings() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-W",
            "error::FutureWarning",
            "-c",
            _PARSE_FOLDER,
            str(EXAMPLES),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    parsed = json.loads(completed.stdout.strip().splitlines()[-1])
    assert parsed["import_errors"] == {}
    assert parsed["warnings"] == []
    # One DAG per file, named after it, so the file a user opens is the DAG they trigger.
    assert parsed["dags"] == _example_files()
