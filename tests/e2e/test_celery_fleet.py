"""Scaling out on Airflow's CeleryExecutor: every promise of the provider when tasks land on different hosts.

One Airflow for the whole module (tests/e2e/celery.py): a Redis broker, an API server, a scheduler, a
dag-processor, a triggerer and two Celery workers, each standing for a separate GPU host with its own
``ollama`` binary (the emulator), host blob cache and temporary directory:

- ``worker-a`` consumes the ``default`` queue; its models are not in GPU memory (a host without a GPU);
- ``worker-b`` consumes ``default`` and ``gpu``; its per-task servers report models in VRAM.

S3 is moto's server, the registry the registry emulator; both live in this test process. The tests run
in file order, and the last one kills a worker. Which scenario runs which DAG:

==========================================  ======================================================
scenario                                    DAG
==========================================  ======================================================
mapped batch over both workers, resumed     dags/example_ollama_mapped_batch.py
S3 cache filled on one host, used on other  dags/example_ollama_model_cache.py
shared server, sensor in the triggerer      dags/example_ollama_pipeline.py
``queue="gpu"`` only on the GPU worker      tests/e2e/dags/celery_fleet_dags.py (fleet_gpu_queue)
worker SIGKILLed mid-task, retry elsewhere  tests/e2e/dags/celery_fleet_dags.py (fleet_worker_loss)
==========================================  ======================================================

After every scenario no per-task server and no watchdog may be alive on either host.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_ollama.cache.host_cache import HostBlobCache
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.cache.support import cache_outcome
from tests.e2e import fleet_confs
from tests.e2e.celery import HEARTBEAT_TIMEOUT_S, CeleryAirflow, CeleryWorker, WorkerHost
from tests.e2e.dags.celery_fleet_dags import GPU_QUEUE, GPU_TASKS
from tests.e2e.flagship import install_flagship, run_flagship
from tests.operators.batch_reference import Reference, batch_reference
from tests.support.dag_runs import REPO_ROOT
from tests.support.moto_s3 import aws_connection_json, make_s3_client, moto_s3
from tests.support.ports import unused_port
from tests.support.redis_server import RedisNotInstalledError, redis_server_binary

__all__ = ["batch_reference", "moto_s3"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.xdist_group("airflow_servers")]

WORKER_A = WorkerHost("worker-a", queues=("default",))
WORKER_B = WorkerHost("worker-b", queues=("default", GPU_QUEUE), environment={"OLLAMA_EMULATOR_GPU": "1"})
MODELS_BUCKET = "fleet-models"
BATCH_BUCKET = "fleet-batches"
FLEET_DAGS = REPO_ROOT / "tests" / "e2e" / "dags" / "celery_fleet_dags.py"
EXAMPLES = REPO_ROOT / "dags"
RUN_TIMEOUT_S = 180
WATCHDOG_EXIT_S = 5


@dataclass
class Fleet:
    airflow: CeleryAirflow
    registry: RegistryEmulator
    s3: Any
    #: The shared server's port (``ollama_default``): nothing listens there until the flagship's sensor waits.
    ollama_port: int
    work_dir: Path

    @property
    def a(self) -> CeleryWorker:
        return self.airflow.workers[WORKER_A.name]

    @property
    def b(self) -> CeleryWorker:
        return self.airflow.workers[WORKER_B.name]

    def run(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Trigger ``dag_id``, wait for the run to succeed; its run id."""
        run_id = self.airflow.trigger(dag_id, conf)
        run = self.airflow.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT_S)
        states = {
            (ti["task_id"], ti["map_index"]): ti["state"]
            for ti in self.airflow.task_instances(dag_id, run_id)
        }
        assert run["state"] == "success", states
        return run_id

    def hosts(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The hostname of each instance of ``task_id`` (by map index): the worker that ran it."""
        instances = [ti for ti in self.airflow.task_instances(dag_id, run_id) if ti["task_id"] == task_id]
        return [ti["hostname"] for ti in sorted(instances, key=lambda ti: ti["map_index"])]

    def assert_nothing_left_running(self) -> None:
        """No per-task server and no watchdog alive on either host, now that the run has ended.

        A task stops its server before it reports success, so a server still here (recognised by its
        host's binary in its command line) has outlived its task: that fails at once. A watchdog exits
        moments after its task disarmed it, so watchdogs get a few seconds.
        """
        workers = self.airflow.workers.values()
        servers = {worker.name: worker.per_task_servers() for worker in workers}
        assert not any(servers.values()), f"per-task servers alive after their tasks ended: {servers}"
        try:
            self.airflow.poll(
                "watchdogs gone",
                lambda: None if any(worker.watchdogs() for worker in workers) else True,
                timeout=WATCHDOG_EXIT_S,
            )
        except TimeoutError:
            watchdogs = {worker.name: worker.watchdogs() for worker in workers}
            raise AssertionError(f"watchdogs alive after their tasks ended: {watchdogs}") from None


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, ollama_registry_session: RegistryEmulator, moto_s3: str
) -> Iterator[Fleet]:
    try:
        redis_server_binary()
    except RedisNotInstalledError as missing:
        pytest.fail(str(missing))
    work_dir = tmp_path_factory.mktemp("celery-fleet")
    s3 = make_s3_client(moto_s3)
    for bucket in (MODELS_BUCKET, BATCH_BUCKET):
        s3.create_bucket(Bucket=bucket)
    ollama_port = unused_port()
    airflow = CeleryAirflow(
        work_dir / "airflow",
        workers=[WORKER_A, WORKER_B],
        connections={
            "ollama_default": {"conn_type": "ollama", "host": f"http://127.0.0.1:{ollama_port}"},
            "aws_default": json.loads(aws_connection_json(moto_s3)),
        },
        environment=fleet_confs.registry_environment(ollama_registry_session),
    )
    install_flagship(airflow.dags_folder)
    for dag_file in (
        EXAMPLES / "example_ollama_mapped_batch.py",
        EXAMPLES / "example_ollama_model_cache.py",
        FLEET_DAGS,
    ):
        shutil.copy(dag_file, airflow.dags_folder)
    with airflow:
        try:
            airflow.wait_healthy(timeout=120)
            airflow.wait_for_workers(timeout=60)
        except BaseException:
            print("\n".join(f"===== {name} =====\n{tail}" for name, tail in airflow.service_logs().items()))
            raise
        yield Fleet(airflow, ollama_registry_session, s3, ollama_port, work_dir)
    httpx.post(f"{moto_s3}/moto-api/reset", timeout=30).raise_for_status()


# --- mapped batch ----------------------------------------------------------------------------------

#: The generation options of the mapped batch example (what each prompt is answered with).
MAPPED_BATCH_OPTIONS = {"temperature": 0, "num_predict": 32}


def test_mapped_batch_chunks_run_on_both_workers_and_resume_on_the_other_host(
    fleet: Fleet, batch_reference: Reference
) -> None:
    dag_id, chunks = fleet_confs.MAPPED_BATCH, 4
    airflow = fleet.airflow
    conf = fleet_confs.mapped_batch(
        batch_reference.model,
        documents=24,
        chunks=chunks,
        output_base_uri=f"s3://aws_default@{BATCH_BUCKET}/mapped",
    )
    with airflow.diagnosed(dag_id):
        airflow.wait_for_dag(dag_id, timeout=60)
        run_id = fleet.run(dag_id, conf)
        hosts = fleet.hosts(dag_id, run_id, "generate_chunk")
        prompt_chunks = airflow.xcom(dag_id, run_id, "split_into_chunks")
        summaries = [airflow.xcom(dag_id, run_id, "generate_chunk", map_index=i) for i in range(chunks)]
        fleet.assert_nothing_left_running()

        # With one worker only, every hostname would be the same: the chunks must have been spread.
        assert len(hosts) == chunks
        assert set(hosts) == {WORKER_A.name, WORKER_B.name}, hosts

        # Results complete and in order: each chunk's results.jsonl answers its prompts one by one, and
        # the chunks in map-index order are the prompts in document order.
        prompts = airflow.xcom(dag_id, run_id, "make_prompts")
        assert [prompt for chunk in prompt_chunks for prompt in chunk] == prompts
        for chunk, summary in zip(prompt_chunks, summaries, strict=True):
            assert (summary["items"], summary["succeeded"], summary["failed"]) == (len(chunk), len(chunk), 0)
            records = [json.loads(line) for line in _read(fleet.s3, summary["uri"]).splitlines()]
            assert [record["index"] for record in records] == list(range(len(chunk)))
            assert [record["response"] for record in records] == [
                batch_reference.generate(prompt, options=MAPPED_BATCH_OPTIONS).response for prompt in chunk
            ]
            _assert_complete_batch_layout(fleet.s3, summary["uri"], items=len(chunk))
        assert airflow.xcom(dag_id, run_id, "report")["items"] == len(prompts)

        # Resumable from any host: a chunk run again on the host that did not write it finds its output
        # in S3 complete, generates nothing and leaves the results as they were.
        chunk, items = 0, len(prompt_chunks[0])
        other = fleet.b if hosts[chunk] == WORKER_A.name else fleet.a
        results = _bucket_key(summaries[chunk]["uri"])
        before = fleet.s3.head_object(**results)["ETag"]
        with airflow.only([other]):
            _clear(airflow, dag_id, run_id, [("generate_chunk", chunk)])
            rerun = airflow.poll(
                "the cleared chunk's second try finished",
                lambda: _finished_try(airflow, dag_id, run_id, "generate_chunk", chunk, try_number=2),
                timeout=RUN_TIMEOUT_S,
            )
        again = airflow.xcom(dag_id, run_id, "generate_chunk", map_index=chunk)
        assert (rerun["state"], rerun["hostname"]) == ("success", other.name)
        assert (again["resumed"], again["requests"], again["succeeded"]) == (items, 0, items)
        assert fleet.s3.head_object(**results)["ETag"] == before
        fleet.assert_nothing_left_running()


def _bucket_key(uri: str) -> dict[str, str]:
    """``s3://[conn_id@]bucket/key`` -> boto3's Bucket and Key."""
    location = uri.removeprefix("s3://").split("@", 1)[-1]
    bucket, key = location.split("/", 1)
    return {"Bucket": bucket, "Key": key}


def _read(s3: Any, uri: str) -> str:
    body: bytes = s3.get_object(**_bucket_key(uri))["Body"].read()
    return body.decode()


def _assert_complete_batch_layout(s3: Any, results_uri: str, *, items: int) -> None:
    """The location a retry would resume from: its batch claimed, finished, and no stray parts."""
    location = results_uri.rsplit("/", 1)[0]
    metadata = json.loads(_read(s3, f"{location}/batch.json"))
    assert metadata["items"] == items
    marker = json.loads(_read(s3, f"{location}/_SUCCESS"))
    assert (marker["items"], marker["failed"]) == (items, 0)
    parts = _bucket_key(f"{location}/parts/")
    assert s3.list_objects_v2(Bucket=parts["Bucket"], Prefix=parts["Key"])["KeyCount"] == 0


def _clear(airflow: CeleryAirflow, dag_id: str, run_id: str, tasks: list[tuple[str, int]]) -> None:
    """Clear task instances through the REST API (the UI's "Clear"): they run again in a new try."""
    response = airflow.api.post(
        f"/dags/{dag_id}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [list(task) for task in tasks],
            "only_failed": False,
            "include_downstream": False,
        },
    )
    assert response.status_code == 200, response.text


def _finished_try(
    airflow: CeleryAirflow, dag_id: str, run_id: str, task_id: str, map_index: int, *, try_number: int
) -> dict[str, Any] | None:
    """The task instance once its try ``try_number`` has finished, else None."""
    instance = airflow.task_instance(dag_id, run_id, task_id, map_index=map_index)
    finished = instance["try_number"] == try_number and instance["state"] in ("success", "failed")
    return instance if finished else None


# --- S3 model cache --------------------------------------------------------------------------------


def test_model_cache_is_filled_on_one_host_and_restored_from_s3_on_another(fleet: Fleet) -> None:
    dag_id, airflow, registry = fleet_confs.MODEL_CACHE, fleet.airflow, fleet.registry
    model = registry.model_name("tiny")
    built = registry.catalogue.model("library/tiny")
    assert built is not None
    size = built.manifest.total_size
    conf = fleet_confs.model_cache(model, cache=f"s3://{MODELS_BUCKET}/cache")
    with airflow.diagnosed(dag_id):
        airflow.wait_for_dag(dag_id, timeout=60)
        # The first run on worker-a only: it pulls from the registry and fills the S3 cache.
        with airflow.only([fleet.a]):
            first = fleet.run(dag_id, conf)
        registry.reset()
        # The second on worker-b only, a host that never had the model.
        with airflow.only([fleet.b]):
            second = fleet.run(dag_id, conf)
        fleet.assert_nothing_left_running()

        for run_id, worker in ((first, fleet.a), (second, fleet.b)):
            for task_id in ("fill_cache", "summarise"):
                assert fleet.hosts(dag_id, run_id, task_id) == [worker.name]
        assert airflow.xcom(dag_id, first, "cache_report") == {
            "fill_cache": {model: cache_outcome("miss", registry=size)},
            "summarise": {model: cache_outcome("hit", s3=size)},
        }
        # worker-b restores everything from the S3 cache worker-a filled, and the registry serves nothing:
        # a cache per host (or none) would pull again and count registry bytes here.
        assert registry.stats.total_requests == 0
        assert airflow.xcom(dag_id, second, "cache_report") == {
            "fill_cache": {model: cache_outcome("hit", s3=size)},
            "summarise": {model: cache_outcome("hit", host=size)},
        }
        # The second task on worker-b linked every blob from worker-b's own host cache, which now holds them.
        for worker in (fleet.a, fleet.b):
            assert all(HostBlobCache(worker.blob_cache).has(blob) for blob in built.manifest.blobs), (
                worker.name
            )


# --- shared server, deferred sensor ----------------------------------------------------------------


def test_flagship_on_the_shared_server_with_the_sensor_resumed_by_the_triggerer(fleet: Fleet) -> None:
    airflow = fleet.airflow
    with airflow.diagnosed(fleet_confs.PIPELINE):
        flagship = run_flagship(
            airflow,
            fleet.registry,
            ollama_port=fleet.ollama_port,
            models_dir=fleet.work_dir / "shared-ollama",
        )
        # Every task ran on a Celery worker of the fleet (the sensor's wait itself ran in the triggerer).
        hosts = {ti["hostname"] for ti in flagship.task_instances.values()}
        assert hosts <= {WORKER_A.name, WORKER_B.name}, hosts
        fleet.assert_nothing_left_running()


# --- GPU queue -------------------------------------------------------------------------------------


def test_gpu_queue_tasks_run_only_on_the_gpu_worker(fleet: Fleet) -> None:
    dag_id, airflow = fleet_confs.GPU_QUEUE, fleet.airflow
    with airflow.diagnosed(dag_id):
        airflow.wait_for_dag(dag_id, timeout=60)
        run_id = fleet.run(dag_id, fleet_confs.fleet(fleet.registry.model_name("tiny")))
        instances = [ti for ti in airflow.task_instances(dag_id, run_id) if ti["task_id"] == "answer_on_gpu"]
        fleet.assert_nothing_left_running()
    # worker-a was idle and consumes "default": a task routed anywhere but the gpu queue could land there,
    # and would fail there too (require_gpu: worker-a's models are not in GPU memory).
    assert len(instances) == GPU_TASKS
    assert {(ti["queue"], ti["hostname"], ti["try_number"]) for ti in instances} == {
        (GPU_QUEUE, WORKER_B.name, 1)
    }


# --- a worker lost mid-task ------------------------------------------------------------------------


def test_a_worker_killed_mid_task_leaves_no_server_and_the_retry_finishes_on_the_other(fleet: Fleet) -> None:
    dag_id, airflow = fleet_confs.WORKER_LOSS, fleet.airflow
    task_id = "answer_after_worker_loss"
    with airflow.diagnosed(dag_id):
        airflow.wait_for_dag(dag_id, timeout=60)
        run_id = airflow.trigger(dag_id, fleet_confs.fleet(fleet.registry.model_name("tiny")))
        # The first try holds its per-task server until its worker dies.
        running = airflow.wait_for_task_state(dag_id, run_id, task_id, "running", timeout=90)
        doomed = airflow.workers[running["hostname"]]
        servers = airflow.poll(
            "the first try's per-task server", lambda: doomed.per_task_servers() or None, timeout=60
        )
        doomed.kill()
        # The worker's task supervisor died with it; the task process runs on, orphaned, and would hold
        # its server for the rest of its first try (FIRST_TRY_HOLD_S, minutes). The server must go now,
        # long before Airflow even notices the missing heartbeats (HEARTBEAT_TIMEOUT_S).
        airflow.poll(
            "the killed worker's per-task server and watchdog gone",
            lambda: None if doomed.leftovers() else True,
            timeout=HEARTBEAT_TIMEOUT_S / 2,
        )
        run = airflow.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT_S)
        tries = airflow.tries(dag_id, run_id, task_id)
        fleet.assert_nothing_left_running()
    assert run["state"] == "success", tries
    survivor = fleet.b if doomed is fleet.a else fleet.a
    assert [(t["try_number"], t["hostname"], t["state"]) for t in tries] == [
        (1, doomed.name, "failed"),
        (2, survivor.name, "success"),
    ]
    assert servers, "the first try had a per-task server on its host"
    assert airflow.xcom(dag_id, run_id, task_id)
