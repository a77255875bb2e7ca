"""The mapped batch of 2,048 prompts on two Celery workers against one, in the same run.

One Celery fleet (tests/e2e/celery.py: Redis, scheduler, triggerer, dag-processor, API server) with two
workers. Each stands for a GPU host with one GPU: one task slot (a host runs one per-task server at a
time), and the same emulated speed on both (``OLLAMA_EMULATOR_REQUEST_LATENCY`` seconds per request, four
requests at a time, the example's ``num_parallel``). ``dags/example_ollama_mapped_batch.py`` runs with
``documents=2048`` in ``--chunks`` mapped tasks, alternately with only worker-a taking tasks and with
both, ``--rounds`` times. Time is Airflow's own: each DAG run's start to end, as the REST API reports it.
The whole run, from prompts to report, is measured: what a user waits for.

Run: ``.venv/bin/python bench/scaling/celery_workers.py`` (about 6 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# Run as a script (python bench/scaling/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from bench.generate.emulated import machine_line, print_table
from tests.e2e import fleet_confs
from tests.e2e.celery import CeleryAirflow, CeleryWorker, WorkerHost
from tests.support.dag_runs import REPO_ROOT

DOCUMENTS = 2048
TARGET_SPEED_UP = 1.7
RUN_TIMEOUT_S = 1800


def _run_seconds(airflow: CeleryAirflow, run_id: str) -> tuple[float, list[float], list[str]]:
    """Wall time of a finished run (Airflow's start and end dates), each chunk's duration and host."""
    dag_id = fleet_confs.MAPPED_BATCH
    run = airflow.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT_S)
    if run["state"] != "success":
        raise RuntimeError(f"run {run_id} ended {run['state']}:\n{airflow.diagnostics(dag_id)}")
    started, ended = (datetime.fromisoformat(run[key]) for key in ("start_date", "end_date"))
    chunks = [ti for ti in airflow.task_instances(dag_id, run_id) if ti["task_id"] == "generate_chunk"]
    chunks.sort(key=lambda ti: ti["map_index"])
    durations = [float(ti["duration"]) for ti in chunks]
    return (ended - started).total_seconds(), durations, [ti["hostname"] for ti in chunks]


def _one_run(
    airflow: CeleryAirflow, workers: list[CeleryWorker], conf: dict[str, object]
) -> tuple[float, list[float], list[str]]:
    with airflow.only(workers):
        run_id = airflow.trigger(fleet_confs.MAPPED_BATCH, conf)
        return _run_seconds(airflow, run_id)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=4, help="mapped tasks per run (default 4)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="pairs of runs, one worker then two (default 2)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.25, help="emulated seconds per request on each GPU (default 0.25)"
    )
    args = parser.parse_args()

    # Both hosts alike: one GPU each (one task at a time) answering a request in --latency seconds.
    speed = {"OLLAMA_EMULATOR_REQUEST_LATENCY": str(args.latency)}
    hosts = [WorkerHost(name, concurrency=1, environment=speed) for name in ("worker-a", "worker-b")]
    work_dir = Path(tempfile.mkdtemp(prefix="bench-celery-workers-"))
    started = time.monotonic()
    rows: list[list[object]] = []
    seconds_by_workers: dict[int, list[float]] = {1: [], 2: []}
    with RegistryEmulator() as registry:
        airflow = CeleryAirflow(
            work_dir / "airflow", workers=hosts, environment=fleet_confs.registry_environment(registry)
        )
        airflow.dags_folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "dags" / "example_ollama_mapped_batch.py", airflow.dags_folder)
        with airflow:
            airflow.wait_healthy(timeout=180)
            airflow.wait_for_workers(timeout=120)
            airflow.wait_for_dag(fleet_confs.MAPPED_BATCH, timeout=120)
            print(f"fleet up in {time.monotonic() - started:.0f} s", flush=True)
            one, two = [airflow.workers["worker-a"]], list(airflow.workers.values())
            for number in range(1, args.rounds + 1):
                for workers in (one, two):
                    conf = fleet_confs.mapped_batch(
                        registry.model_name("tiny"),
                        documents=DOCUMENTS,
                        chunks=args.chunks,
                        output_base_uri=f"file://{work_dir}/results/{number}-{len(workers)}",
                    )
                    seconds, durations, chunk_hosts = _one_run(airflow, workers, conf)
                    chunk_seconds = f"{min(durations):.1f}-{max(durations):.1f}"
                    rows.append(
                        [number, len(workers), seconds, chunk_seconds, ", ".join(sorted(set(chunk_hosts)))]
                    )
                    seconds_by_workers[len(workers)].append(seconds)
                    print(
                        f"round {number}, {len(workers)} worker(s): {seconds:.1f} s on {chunk_hosts}",
                        flush=True,
                    )
    shutil.rmtree(work_dir, ignore_errors=True)

    print(f"\n{machine_line()}; {DOCUMENTS} prompts in {args.chunks} chunks, {args.latency} s per request\n")
    print_table(["round", "workers", "wall s", "each chunk s", "chunks ran on"], rows)
    one_worker, two_workers = (statistics.median(seconds_by_workers[count]) for count in (1, 2))
    speed_up = one_worker / two_workers
    verdict = "PASS" if speed_up >= TARGET_SPEED_UP else "FAIL"
    print(f"\nmedian: one worker {one_worker:.1f} s, two workers {two_workers:.1f} s")
    print(f"speed-up {speed_up:.2f}x (target {TARGET_SPEED_UP}x): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
