"""``airflow standalone`` for end-to-end tests: scheduler, triggerer, dag-processor and API server in one command.

Every task runs on its LocalExecutor. Started in its own process group (see tests/support/processes.py),
driven through the REST API of :class:`~tests.e2e.deployment.AirflowDeployment`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.e2e.deployment import AirflowDeployment
from tests.support.ports import unused_port
from tests.support.processes import ServiceProcess


class AirflowStandalone(AirflowDeployment):
    """``airflow standalone`` on 127.0.0.1 with ``home`` as AIRFLOW_HOME; use as a context manager."""

    _process: ServiceProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "standalone.log"

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            # The LocalExecutor's log server has a fixed default port too.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
        }

    def start(self) -> None:
        airflow = Path(sys.executable).with_name("airflow")
        self._process = ServiceProcess(
            "airflow standalone", [str(airflow), "standalone"], env=self.environment(), log_path=self.log_path
        )
        self._process.start()

    def stop(self) -> None:
        """End the whole process group: standalone and the components it started."""
        self.close_client()
        if self._process is not None:
            self._process.stop()

    def check_running(self) -> None:
        if self._process is not None and self._process.returncode is not None:
            raise RuntimeError(
                f"airflow standalone exited with {self._process.returncode}:\n{self._process.log_tail()}"
            )

    def service_logs(self) -> dict[str, str]:
        if self._process is None:
            return {}
        return {f"airflow standalone ({self.log_path})": self._process.log_tail()}
