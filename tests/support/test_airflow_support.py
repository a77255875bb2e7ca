"""The dag.test() helper runs a DAG from the test DAGs folder and reads back states and XComs."""

from __future__ import annotations

import pytest

from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.smoke]


def test_run_dag_reports_states_and_return_values_including_mapped_tasks() -> None:
    result = run_dag(REPO_ROOT / "tests" / "dags" / "support_smoke_dag.py", "support_smoke")
    result.assert_success()
    assert result.xcoms["produce"] == {"x": 1}
    assert result.xcoms["consume"] == 2
    assert result.xcoms["fan_out"] == [10, 20, 30]
    assert result.task_states["fan_out[2]"] == "success"
