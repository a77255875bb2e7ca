"""What OllamaGenerateOperator adds to the batch engine: 512 prompts, emulator with 8 slots and 50 ms each.

Three sides on the same server, in alternating order, median of 3: ``run_batch`` alone; the operator's
``execute`` (model check, argument checks, event loop, hook); and the whole generate task in a
``dag.test()`` run (its duration in the metadata DB: templates, XCom in and out, task runner).
Run: ``.venv/bin/python bench/operators/operator_overhead.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# Airflow reads its configuration once, at first import: point it at a scratch home first.
_HOME = Path(tempfile.mkdtemp(prefix="bench-airflow-home-"))
(_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
# Run as a script (python bench/operators/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.batch import GenerateBatch, GenerationOptions, run_batch  # noqa: E402
from airflow_provider_ollama.hooks.ollama import OllamaHook  # noqa: E402
from airflow_provider_ollama.operators.generate import OllamaGenerateOperator  # noqa: E402
from bench.generate.emulated import Stopwatch, emulated_server, machine_line, print_table  # noqa: E402
from bench.operators.generate_dag import ITEMS, MAX_CONCURRENCY, OPTIONS, prompts  # noqa: E402
from tests.support.dag_runs import run_dag  # noqa: E402

REPEATS = 3
SLOTS = 8
LATENCY_S = 0.05
DAG_FILE = Path(__file__).with_name("generate_dag.py")


def engine_alone(model: str) -> float:
    hook = OllamaHook()  # the same connection the operator uses

    async def batch() -> None:
        try:
            outcome = await run_batch(
                hook,
                GenerateBatch(model, prompts(), options=GenerationOptions(options=OPTIONS)),
                max_concurrency=MAX_CONCURRENCY,
            )
        finally:
            await hook.aclose()
        assert outcome.summary["succeeded"] == ITEMS

    with Stopwatch() as watch:
        asyncio.run(batch())
    return watch.seconds


def operator_execute(model: str) -> float:
    with Stopwatch() as watch:
        operator = OllamaGenerateOperator(
            task_id="generate",
            model=model,
            prompts=prompts(),
            options=OPTIONS,
            max_concurrency=MAX_CONCURRENCY,
        )
        records = operator.execute({})
    assert len(records) == ITEMS
    return watch.seconds


def task_in_dag_test(model: str) -> float:
    result = run_dag(DAG_FILE, "bench_generate_operator", conf={"model": model})
    result.assert_success()
    assert len(result.xcoms["generate"]) == ITEMS
    return _task_seconds(result.run_id)


def _task_seconds(run_id: str) -> float:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        instance = session.scalars(
            select(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == "generate")
        ).one()
        assert instance.start_date is not None
        assert instance.end_date is not None
        return float((instance.end_date - instance.start_date).total_seconds())


def main() -> int:
    ideal = ITEMS * LATENCY_S / SLOTS
    with emulated_server(num_parallel=SLOTS, request_latency_seconds=LATENCY_S) as server:
        os.environ["AIRFLOW_CONN_OLLAMA_DEFAULT"] = json.dumps({"conn_type": "ollama", "host": server.url})
        sides: dict[str, Any] = {
            "run_batch alone": engine_alone,
            "OllamaGenerateOperator.execute()": operator_execute,
            "generate task in dag.test()": task_in_dag_test,
        }
        for side in sides.values():  # first uses: DB migration, imports, connection pools
            side(server.model)
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for repeat in range(REPEATS):
            names = list(sides)[repeat % 3 :] + list(sides)[: repeat % 3]
            for name in names:
                seconds[name].append(sides[name](server.model))

    print(
        f"{ITEMS} prompts, {SLOTS} slots, {LATENCY_S * 1000:.0f} ms per request, max_concurrency "
        f"{MAX_CONCURRENCY}, median of {REPEATS} (after one warm-up each); {machine_line()}"
    )
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    engine = medians["run_batch alone"]
    rows: list[list[Any]] = [[name, wall, wall / ideal, wall / engine] for name, wall in medians.items()]
    print_table(["side", "wall s", f"x ideal ({ideal:.1f} s)", "x run_batch"], rows)
    worst = max(medians.values()) / engine
    ok = worst <= 1.10
    print("PASS" if ok else "FAIL", "(target: the operator and the task within 10% of the engine alone)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
