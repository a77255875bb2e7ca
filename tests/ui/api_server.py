"""A real ``airflow api-server`` for browser tests: simple auth manager, one admin, connection tests on.

Started on a free loopback port with this test process's AIRFLOW_HOME (its metadata DB migrated),
waited for through its health endpoint with a deadline, and stopped with its whole process group.
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
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.dag_runs import migrate_metadata_db
from tests.support.ports import unused_port
from tests.support.processes import Service

START_DEADLINE_S = 120.0
STOP_GRACE_S = 10.0
ADMIN_USER = "admin"


class AirflowApiServer(Service):
    """``airflow api-server`` in its own process group; use as a context manager."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self.log_path = work_dir / "api-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        migrate_metadata_db()
        passwords = self.work_dir / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: self.password}))
        env = {
            **os.environ,
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
        }
        airflow = Path(sys.executable).with_name("airflow")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(airflow), "api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"airflow api-server exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            # Nothing to wait on but the socket: poll it, bounded by the deadline.
            self._process_wait(0.25)
        self.stop()
        raise TimeoutError(
            f"airflow api-server not healthy within {START_DEADLINE_S:g} s:\n{self.log_tail()}"
        )

    def _process_wait(self, seconds: float) -> None:
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=seconds)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE_S)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
