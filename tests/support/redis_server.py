"""A real Redis on 127.0.0.1 for a Celery broker: Debian's ``redis-server``, started and stopped by the caller.

It listens on a free port below the ephemeral range (tests/support/ports.py), keeps everything in
memory (no RDB or AOF file) and is ready once it answers ``PING``.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from tests.support.ports import unused_port
from tests.support.processes import Service, ServiceProcess

INSTALL_HINT = (
    "the Celery tests need Debian's redis-server as their broker: "
    "apt-get install -y --no-install-recommends redis-server (python3 .ci/dev.py test installs it as root)"
)
_START_DEADLINE_S = 30.0
_PING_INTERVAL_S = 0.05


class RedisNotInstalledError(RuntimeError):
    """``redis-server`` is not on PATH."""


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisNotInstalledError(INSTALL_HINT)
    return binary


class RedisServer(Service):
    """``redis-server`` on a free loopback port, its output in ``work_dir/redis.log``; a context manager."""

    def __init__(self, work_dir: Path) -> None:
        self.port = unused_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        work_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(work_dir),
        ]  # fmt: skip
        self.process = ServiceProcess("redis-server", argv, env={}, log_path=work_dir / "redis.log")

    def start(self) -> None:
        self.process.start()
        deadline = time.monotonic() + _START_DEADLINE_S
        while not self.ping():
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}:\n{self.process.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer PING within {_START_DEADLINE_S:g} s")
            self.process.wait(_PING_INTERVAL_S)

    def ping(self) -> bool:
        """Whether it answers ``PING`` (the inline command of Redis's protocol) with ``+PONG``."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop()
