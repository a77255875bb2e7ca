"""Airflow on its CeleryExecutor for end-to-end tests: a Redis broker and several workers, each a "GPU host".

Started on 127.0.0.1 by the test itself: Debian's ``redis-server`` (tests/support/redis_server.py), then
``airflow db migrate``, then an API server, a scheduler, a dag-processor, a triggerer and one
``airflow celery worker`` per :class:`WorkerHost`, each in a process group of its own. Every worker
stands for a separate GPU host and has what a host has of its own:

- an ``ollama`` binary (``OLLAMA_BINARY``): a copy of the emulator's console script at ``<host>/bin/ollama``, so every per-task server of the host shows that path in its command line;
- a host blob cache (``[ollama] host_blob_cache_dir``) and a temporary directory (``TMPDIR``);
- a host name, which Airflow records for every task try the worker runs (``[core] hostname_callable``).

Which worker takes what is steered the way an operator of a Celery fleet does it: by queues, and with
Celery's remote control (``add_consumer`` / ``cancel_consumer``, what ``airflow celery add-queue`` and
``remove-queue`` send).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from airflow_provider_ollama.testing.pytest_plugin import emulator_script
from tests.e2e.deployment import AirflowDeployment
from tests.e2e.worker_hostname import WORKER_HOSTNAME_VARIABLE
from tests.support.dag_runs import REPO_ROOT
from tests.support.ports import unused_port
from tests.support.processes import ProcessInfo, ServiceProcess, kill_processes, processes_with_environment
from tests.support.redis_server import RedisServer

DEFAULT_QUEUE = "default"
#: Seconds without a heartbeat after which the scheduler fails a running task (Airflow's default: 300).
#: A worker that dies mid-task is noticed after this long, and the task's retry is scheduled.
HEARTBEAT_TIMEOUT_S = 20
_CONTROL_TIMEOUT_S = 5.0
_MIGRATE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerHost:
    """One Celery worker and the GPU host it stands for.

    :param name: the host name Airflow records for the tasks it runs (and the Celery node's name).
    :param queues: the Celery queues it consumes.
    :param concurrency: task slots (Celery prefork processes).
    :param environment: more variables for it, e.g. ``OLLAMA_EMULATOR_GPU=1`` for a host with a GPU.
    """

    name: str
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    concurrency: int = 2
    environment: Mapping[str, str] = field(default_factory=dict)


class CeleryWorker:
    """A running ``airflow celery worker`` for a :class:`WorkerHost`, with the host's own directories."""

    def __init__(self, host: WorkerHost, root: Path, base_environment: Mapping[str, str]) -> None:
        self.host = host
        self.name = host.name
        self.node = f"{host.name}@e2e"
        self.root = root
        self.binary = root / "bin" / "ollama"
        self.blob_cache = root / "blob-cache"
        self.tmp = root / "tmp"
        for folder in (self.binary.parent, self.blob_cache, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        # A copy of the console script (the provider resolves links): the interpreter runs it by this path,
        # so the host's per-task servers are recognisable by their command line.
        shutil.copy2(emulator_script(), self.binary)
        environment = {
            **base_environment,
            "OLLAMA_BINARY": str(self.binary),
            "AIRFLOW__OLLAMA__HOST_BLOB_CACHE_DIR": str(self.blob_cache),
            "TMPDIR": str(self.tmp),
            WORKER_HOSTNAME_VARIABLE: host.name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_hostname.worker_hostname",
            # Each worker serves its task logs (to the API server) on a port of its own.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
            **host.environment,
        }
        airflow = Path(sys.executable).with_name("airflow")
        argv = [
            str(airflow), "celery", "worker",
            "--queues", ",".join(host.queues),
            "--concurrency", str(host.concurrency),
            "--celery-hostname", self.node,
        ]  # fmt: skip
        self.process = ServiceProcess(
            f"celery worker {host.name}", argv, env=environment, log_path=root / "worker.log"
        )
        #: Set by :meth:`kill`: a worker the test killed on purpose is not expected to run any more.
        self.killed = False

    def per_task_servers(self) -> list[ProcessInfo]:
        """Living ``ollama serve`` processes started from this host's binary (per-task servers)."""
        return [
            process
            for process in processes_with_environment("OLLAMA_BINARY", str(self.binary))
            if f"{self.binary} serve" in process.command
        ]

    def watchdogs(self) -> list[ProcessInfo]:
        """Living per-task-server watchdogs started by this host's tasks."""
        return [
            process
            for process in processes_with_environment("OLLAMA_BINARY", str(self.binary))
            if "_watchdog.py" in process.command
        ]

    def leftovers(self) -> list[ProcessInfo]:
        """Per-task servers and watchdogs still alive on this host."""
        return self.per_task_servers() + self.watchdogs()

    def kill(self) -> None:
        """SIGKILL the Celery worker's main process, as ``kill -9`` or the OOM killer would.

        Its pool processes die with it (Celery sets ``PR_SET_PDEATHSIG`` on them), and with them the task
        supervisors they run; the task processes (in process groups of their own since Airflow 3.3), the
        per-task servers and their watchdogs get no signal: whatever stops a server is the provider's.
        The rest of the worker's group (its log server) is left to :meth:`CeleryAirflow.stop`.
        """
        self.killed = True
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class CeleryAirflow(AirflowDeployment):
    """Airflow with the CeleryExecutor, a Redis broker and one Celery worker per host; a context manager.

    :param home: AIRFLOW_HOME (its ``dags`` folder is the DAGs folder; fill it before starting).
    :param workers: the hosts, one Celery worker each.
    :param connections: connection id -> JSON form, for every component.
    :param environment: more variables for every component (the workers' own come on top).
    """

    def __init__(
        self,
        home: Path,
        *,
        workers: Sequence[WorkerHost],
        connections: Mapping[str, dict[str, Any]] | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        slots = sum(host.concurrency for host in workers)
        super().__init__(
            home, connections=connections, environment=environment, parallelism=max(slots * 2, 8)
        )
        self.redis = RedisServer(home / "redis")
        self._hosts = list(workers)
        self.workers: dict[str, CeleryWorker] = {}
        self._services: list[ServiceProcess] = []
        self._celery: Celery | None = None

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"{self.redis.url}/0",
            # The metadata DB is SQLite: keep Celery's task results out of it (Celery warns; harmless here).
            "AIRFLOW__CELERY__RESULT_BACKEND": f"{self.redis.url}/1",
            # Several processes sign and check the tokens of task workloads and log requests: one secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # The workers import the hostname callable from this checkout's tests package.
            "PYTHONPATH": str(REPO_ROOT),
            **self._extra_environment,  # the caller's have the last word
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.redis.start()
        environment = self.environment()
        airflow = str(Path(sys.executable).with_name("airflow"))
        logs = self.home / "services"
        logs.mkdir(parents=True, exist_ok=True)
        # Celery workers never touch the metadata DB (tasks reach it through the API server): they start
        # while it is migrated, on the core the migration leaves idle.
        for host in self._hosts:
            worker = CeleryWorker(host, self.home / "hosts" / host.name, environment)
            self.workers[host.name] = worker
            self._services.append(worker.process)
            worker.process.start()
        migrate = ServiceProcess(
            "airflow db migrate", [airflow, "db", "migrate"], env=environment, log_path=logs / "migrate.log"
        )
        migrate.start()
        if migrate.wait(_MIGRATE_TIMEOUT_S) != 0:
            migrate.stop()
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.log_tail()}")
        components = {
            "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(self.port)],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
        }
        for name, arguments in components.items():
            service = ServiceProcess(
                name, [airflow, *arguments], env=environment, log_path=logs / f"{name}.log"
            )
            self._services.append(service)
            service.start()

    def stop(self) -> None:
        """Stop every component, then kill whatever per-task server or watchdog a failed test left."""
        self.close_client()
        if self._celery is not None:
            self._celery.close()
            self._celery = None
        for service in self._services:
            service.signal_group(signal.SIGTERM)
        for service in self._services:
            service.stop()
        for worker in self.workers.values():
            kill_processes(worker.leftovers())
        self.redis.stop()

    def check_running(self) -> None:
        killed = {worker.process.name for worker in self.workers.values() if worker.killed}
        for service in self._services:
            if service.started and service.name not in killed and service.returncode is not None:
                raise RuntimeError(f"{service.name} exited with {service.returncode}:\n{service.log_tail()}")

    def service_logs(self) -> dict[str, str]:
        return {f"{service.name} ({service.log_path})": service.log_tail() for service in self._services}

    # --- Celery ----------------------------------------------------------------------------------

    @property
    def celery(self) -> Celery:
        """A Celery client of the broker, for remote control (as ``airflow celery ...`` commands use it)."""
        if self._celery is None:
            self._celery = Celery(broker=f"{self.redis.url}/0")
        return self._celery

    def wait_for_workers(self, timeout: float) -> dict[str, list[str]]:
        """Until every worker answers and consumes its queues; node name -> queues."""
        expected = {worker.node: sorted(worker.host.queues) for worker in self.workers.values()}

        def consuming() -> dict[str, list[str]] | None:
            replies = self.celery.control.inspect(timeout=1).active_queues() or {}
            queues = {node: sorted(queue["name"] for queue in found) for node, found in replies.items()}
            return queues if queues == expected else None

        return self.poll("Celery workers consuming", consuming, timeout)

    def queues_of(self, worker: CeleryWorker) -> list[str]:
        replies = self.celery.control.inspect(
            destination=[worker.node], timeout=_CONTROL_TIMEOUT_S
        ).active_queues()
        return sorted(queue["name"] for queue in (replies or {}).get(worker.node, []))

    def set_consuming(self, worker: CeleryWorker, queue: str, consuming: bool) -> None:
        """Make ``worker`` start or stop taking tasks from ``queue`` (Celery's add/cancel_consumer)."""
        control = self.celery.control
        command = control.add_consumer if consuming else control.cancel_consumer
        replies = command(queue, destination=[worker.node], reply=True, timeout=_CONTROL_TIMEOUT_S)
        assert replies, f"{worker.node} did not answer {command.__name__}({queue!r})"
        assert (queue in self.queues_of(worker)) == consuming, replies

    @contextmanager
    def only(self, workers: Iterable[CeleryWorker], queue: str = DEFAULT_QUEUE) -> Iterator[None]:
        """Within the block, only ``workers`` take tasks from ``queue``; the others resume after it."""
        chosen = {worker.name for worker in workers}
        paused = [
            worker
            for worker in self.workers.values()
            if worker.name not in chosen and not worker.killed and queue in worker.host.queues
        ]
        for worker in paused:
            self.set_consuming(worker, queue, consuming=False)
        try:
            yield
        finally:
            for worker in paused:
                if not worker.killed:
                    self.set_consuming(worker, queue, consuming=True)
