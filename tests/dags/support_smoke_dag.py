"""A two-task DAG that proves the dag.test() support code runs DAGs and reads XComs back."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def support_smoke() -> None:
    @task
    def produce() -> dict[str, int]:
        return {"x": 1}

    @task
    def consume(value: dict[str, int]) -> int:
        return value["x"] + 1

    @task
    def fan_out(item: int) -> int:
        return item * 10

    consume(produce())
    fan_out.expand(item=[1, 2, 3])


support_smoke()
