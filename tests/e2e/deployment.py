"""A real Airflow for end-to-end tests, driven only through its REST API, as a user would.

:class:`AirflowDeployment` holds what every way of running Airflow here shares: a temporary AIRFLOW_HOME
(SQLite), free loopback ports below the ephemeral range (see tests/support/ports.py), an admin of the
simple auth manager, connections from the environment, the REST API client and every wait, each polling
with a deadline. Subclasses start the components: ``airflow standalone`` (tests/e2e/standalone.py) or a
CeleryExecutor with a Redis broker and several workers (tests/e2e/celery.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.ports import unused_port
from tests.support.processes import Service

ADMIN_USER = "admin"
_POLL_S = 0.5
#: Run states after which nothing changes any more.
FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: What /api/v2/monitor/health must report healthy before a test starts.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

T = TypeVar("T")


class AirflowDeployment(Service):
    """Airflow on 127.0.0.1 with ``home`` as AIRFLOW_HOME; use as a context manager.

    :param home: AIRFLOW_HOME; its ``dags`` folder is the DAGs folder (fill it before starting).
    :param connections: connection id -> JSON form, set as ``AIRFLOW_CONN_<ID>`` for every component.
    :param environment: more variables for every component (Airflow options such as ``AIRFLOW__OLLAMA__*``).
    :param parallelism: ``[core] parallelism``: task instances running at once across the deployment.
    """

    def __init__(
        self,
        home: Path,
        *,
        connections: Mapping[str, dict[str, Any]] | None = None,
        environment: Mapping[str, str] | None = None,
        parallelism: int = 4,
    ) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self._connections = dict(connections or {})
        self._parallelism = parallelism
        self._extra_environment = dict(environment or {})
        self._client: httpx.Client | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    @abstractmethod
    def start(self) -> None:
        """Start every component (the DAGs folder must be filled by now)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop every component and whatever it started in its process group."""

    @abstractmethod
    def check_running(self) -> None:
        """Raise if a component that should be running has exited."""

    @abstractmethod
    def service_logs(self) -> dict[str, str]:
        """Each component's name -> the last lines of its output."""

    def environment(self) -> dict[str, str]:
        """What every component's environment holds: home, ports, login, connections."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: self.password}))
        environment = {
            **os.environ,
            # Components start `airflow <component>` from PATH: this venv's.
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": str(self._parallelism),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # The triggerer's log server has a fixed default port: take a free one.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(unused_port()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        }
        for conn_id, connection in self._connections.items():
            environment[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
        return {**environment, **self._extra_environment}

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- waiting ---------------------------------------------------------------------------------

    def poll(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        """Call ``probe`` until it returns a value (not None), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:g} s")
            # Nothing to block on but Airflow's own progress, which only the API shows: ask again soon.
            time.sleep(_POLL_S)

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Until the metadata DB, scheduler, triggerer and dag-processor all report healthy."""

        def healthy() -> dict[str, Any] | None:
            try:
                response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
            except httpx.HTTPError:
                return None
            if response.status_code != 200:
                return None
            health: dict[str, Any] = response.json()
            ready = all((health.get(name) or {}).get("status") == "healthy" for name in HEALTH_COMPONENTS)
            return health if ready else None

        return self.poll("Airflow healthy", healthy, timeout)

    # --- the REST API ----------------------------------------------------------------------------

    @property
    def api(self) -> httpx.Client:
        """A client of the REST API, logged in as the admin (token from ``POST /auth/token``)."""
        if self._client is None:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": ADMIN_USER, "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            token = response.json()["access_token"]
            self._client = httpx.Client(
                base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
        return self._client

    def wait_for_dag(self, dag_id: str, timeout: float) -> dict[str, Any]:
        """Until the dag-processor has parsed ``dag_id`` (without import errors)."""

        def parsed() -> dict[str, Any] | None:
            errors = self.api.get("/importErrors").json().get("import_errors", [])
            if errors:
                raise AssertionError(f"DAG import errors: {errors}")
            response = self.api.get(f"/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        return self.poll(f"DAG {dag_id} parsed", parsed, timeout)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a run of ``dag_id`` with ``conf``; its run id."""
        response = self.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert response.status_code == 200, response.text
        run_id: str = response.json()["dag_run_id"]
        return run_id

    def task_instance(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[str, Any]:
        """One task instance (of a mapped task: the one at ``map_index``)."""
        mapped = "" if map_index < 0 else f"/{map_index}"
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{mapped}")
        response.raise_for_status()
        instance: dict[str, Any] = response.json()
        return instance

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones one per map index."""
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        response.raise_for_status()
        instances: list[dict[str, Any]] = response.json()["task_instances"]
        return instances

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of an unmapped task instance, oldest first (hostname, state, try_number...)."""
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        response.raise_for_status()
        tries: list[dict[str, Any]] = response.json()["task_instances"]
        return sorted(tries, key=lambda attempt: attempt["try_number"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float
    ) -> dict[str, Any]:
        """Until the task instance is in ``state``; fails at once if the run finishes first."""

        def reached() -> dict[str, Any] | None:
            instance = self.task_instance(dag_id, run_id, task_id)
            if instance["state"] == state:
                return instance
            run = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run["state"] in FINISHED_RUN_STATES:
                raise AssertionError(
                    f"run {run_id} ended {run['state']} before {task_id} was {state}: "
                    f"{self.task_states(dag_id, run_id)}"
                )
            return None

        return self.poll(f"{task_id} {state}", reached, timeout)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Until the run has finished (success or failed); the run as the API returns it."""

        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
            return run if run["state"] in FINISHED_RUN_STATES else None

        return self.poll(f"run {run_id} finished", finished, timeout)

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, key: str = "return_value"
    ) -> Any:
        """A task's XCom (by default its return value), read through the REST API."""
        response = self.api.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True, "stringify": False, "map_index": map_index},
        )
        response.raise_for_status()
        return response.json()["value"]

    # --- logs ------------------------------------------------------------------------------------

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """Log files of a task instance: its tries (``attempt=N.log``) and its triggers' (``...trigger.<id>.log``)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("attempt=*.log*")) if folder.exists() else []

    def diagnostics(self, dag_id: str) -> str:
        """What to read when a test fails: each component's output and every task log of ``dag_id``."""
        parts = []
        for name, tail in self.service_logs().items():
            parts += [f"===== {name}, last lines =====", tail]
        for path in sorted((self.home / "logs").glob(f"dag_id={dag_id}/**/*.log*")):
            tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
            parts += [f"===== {path.relative_to(self.home)} =====", tail]
        return "\n".join(parts)

    @contextlib.contextmanager
    def diagnosed(self, dag_id: str) -> Iterator[None]:
        """Print :meth:`diagnostics` when the block fails (pytest shows it with the failure)."""
        try:
            yield
        except BaseException:
            print(self.diagnostics(dag_id))
            raise
