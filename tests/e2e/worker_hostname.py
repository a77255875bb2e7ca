"""``[core] hostname_callable`` of the Celery workers the end-to-end tests start: each reports its own host name.

All workers of a test share one machine, so the real host name cannot tell them apart; each stands
for a separate GPU host, and Airflow records this name as the hostname of every task try it runs
(what the REST API and the UI show).
"""

from __future__ import annotations

import os

#: The environment variable holding the worker's host name.
WORKER_HOSTNAME_VARIABLE = "AIRFLOW_E2E_WORKER_HOSTNAME"


def worker_hostname() -> str:
    return os.environ[WORKER_HOSTNAME_VARIABLE]
