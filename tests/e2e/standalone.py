"""A real Airflow for end-to-end tests: ``airflow standalone`` (scheduler, triggerer, dag-processor, API server).

Started in its own process group with a temporary AIRFLOW_HOME (SQLite), free ports below the ephemeral
range for everything it listens on (see tests/support/ports.py), and connections from the environment; driven only through its REST API, as a user would.
Every wait polls with a deadline; :meth:`AirflowStandalone.stop` ends the whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from tests.support.ports import unused_port

ADMIN_USER = "admin"
STOP_GRACE_S = 5.0
_POLL_S = 0.5
#: Run and task states after which nothing changes any more.
FINISHED_RUN_STATES = frozenset({"success", "failed"})

T = TypeVar("T")


class AirflowStandalone:
    """``airflow standalone`` on 127.0.0.1 with ``home`` as AIRFLOW_HOME; use as a context manager.

    :param home: AIRFLOW_HOME; its ``dags`` folder is the DAGs folder (fill it before starting).
    :param connections: connection id -> JSON form, set as ``AIRFLOW_CONN_<ID>`` for every component.
    """

    def __init__(self, home: Path, *, connections: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "standalone.log"
        self.password = secrets.token_urlsafe(12)
        self._connections = dict(connections or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    def __enter__(self) -> AirflowStandalone:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- lifecycle -------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: self.password}))
        environment = {
            **os.environ,
            # standalone starts its components as `airflow <component>` from PATH: this venv's.
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # The log servers of the triggerer and the workers have fixed default ports: take free ones.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(unused_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        }
        for conn_id, connection in self._connections.items():
            environment[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
        return environment

    def start(self) -> None:
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        airflow = Path(sys.executable).with_name("airflow")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(airflow), "standalone"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                # Its own process group: stop() ends the scheduler, triggerer, task processes... together.
                start_new_session=True,
            )

    def stop(self) -> None:
        """SIGTERM the whole process group, wait for it to go, SIGKILL whatever is left."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_S)
        # The components shut down on their own after standalone itself has gone: wait for them too.
        deadline = time.monotonic() + STOP_GRACE_S
        while _living_members(group) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=_POLL_S)
        if _living_members(group):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)

    def _check_running(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"airflow standalone exited with {self._process.returncode}:\n{self.log_tail()}"
            )

    # --- waiting ---------------------------------------------------------------------------------

    def poll(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        """Call ``probe`` until it returns a value (not None), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:g} s")
            # Nothing to block on but Airflow's own progress, which only the API shows: ask again soon.
            with contextlib.suppress(subprocess.TimeoutExpired):
                assert self._process is not None
                self._process.wait(timeout=_POLL_S)

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
            components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ready = all((health.get(name) or {}).get("status") == "healthy" for name in components)
            return health if ready else None

        return self.poll("airflow standalone healthy", healthy, timeout)

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

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        response.raise_for_status()
        instance: dict[str, Any] = response.json()
        return instance

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        response.raise_for_status()
        return {ti["task_id"]: ti["state"] for ti in response.json()["task_instances"]}

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

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The task's return value, read through the REST API."""
        response = self.api.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": True, "stringify": False},
        )
        response.raise_for_status()
        return response.json()["value"]

    # --- logs ------------------------------------------------------------------------------------

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """Log files of a task instance: its tries (``attempt=N.log``) and its triggers' (``...trigger.<id>.log``)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.glob("attempt=*.log*")) if folder.exists() else []

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def diagnostics(self, dag_id: str) -> str:
        """What to read when a test fails: standalone's output and every task log of ``dag_id``."""
        parts = [f"===== airflow standalone ({self.log_path}), last lines =====", self.log_tail()]
        for path in sorted((self.home / "logs").glob(f"dag_id={dag_id}/**/*.log*")):
            tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
            parts += [f"===== {path.relative_to(self.home)} =====", tail]
        return "\n".join(parts)


def _living_members(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies (read from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == group:
                members.append(int(stat.parent.name))
    return members
