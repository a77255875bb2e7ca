"""Process supervision: drained output, process-group stop, SIGKILL escalation, the watchdog."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from airflow_provider_ollama.server._watchdog import parent_of
from airflow_provider_ollama.server.process import ServerProcess, redact_line
from tests.server.processes import is_gone, sigkill_and_wait, task_process, wait_until_gone, write_script

LISTEN_THEN_WAIT = """
import sys, time
print("Listening on 127.0.0.1:45678 (version 0.0.0)", flush=True)
time.sleep(600)
"""


def _process(script: Path, tmp_path: Path, **kwargs) -> ServerProcess:
    return ServerProcess(
        [str(script), "serve"], env=dict(os.environ), log_path=tmp_path / "server.log", **kwargs
    )


def test_output_reaches_log_file_and_task_log_without_ever_blocking_the_server(tmp_path, caplog):
    # 4 MB of output: far beyond a pipe's 64 KB buffer, which an undrained PIPE would block on.
    script = write_script(
        tmp_path / "chatty",
        """
        import sys, time
        for number in range(40000):
            print(f"[GIN] request {number} " + "x" * 80)
        print("time=now level=WARN msg=\\"low VRAM\\"")
        print("Listening on 127.0.0.1:45678 (version 0.0.0)", flush=True)
        time.sleep(600)
        """,
    )
    process = _process(script, tmp_path)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_ollama.server.process")
    process.start()
    try:
        assert process.wait_for_port(timeout=30) == 45678
    finally:
        process.stop()
    lines = (tmp_path / "server.log").read_text().splitlines()
    assert len(lines) == 40002
    assert lines[-1].startswith("Listening on")
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert any("low VRAM" in record.getMessage() for record in warnings)
    requests = [record for record in caplog.records if "[GIN]" in record.getMessage()]
    assert requests
    assert all(record.levelno == logging.DEBUG for record in requests)


def test_stop_reaches_runner_processes_in_the_servers_group(tmp_path):
    script = write_script(
        tmp_path / "with-runner",
        f"""
        import subprocess, sys, time
        runner = subprocess.Popen([{sys.executable!r}, "-c", "import time; time.sleep(600)"])
        print(f"runner {{runner.pid}}", flush=True)
        print("Listening on 127.0.0.1:45678 (version 0.0.0)", flush=True)
        time.sleep(600)
        """,
    )
    process = _process(script, tmp_path)
    process.start()
    assert process.wait_for_port(timeout=30) == 45678
    runner_pid = int(next(line for line in process.tail() if line.startswith("runner")).split()[1])
    process.stop()
    assert wait_until_gone(runner_pid, timeout=2)
    assert process.poll() is not None


def test_server_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    script = write_script(
        tmp_path / "stubborn",
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Listening on 127.0.0.1:45678 (version 0.0.0)", flush=True)
        time.sleep(600)
        """,
    )
    process = _process(script, tmp_path, stop_timeout=0.5)
    process.start()
    assert process.wait_for_port(timeout=30) == 45678
    started = time.monotonic()
    code = process.stop()
    assert code == -signal.SIGKILL
    assert 0.4 < time.monotonic() - started < 5


def test_stop_is_idempotent_and_reports_the_exit_code(tmp_path):
    process = _process(write_script(tmp_path / "server", LISTEN_THEN_WAIT), tmp_path)
    process.start()
    process.wait_for_port(timeout=30)
    first = process.stop()
    assert first == -signal.SIGTERM
    assert process.stop() == first


def test_stop_before_start_does_nothing(tmp_path):
    assert _process(write_script(tmp_path / "server", LISTEN_THEN_WAIT), tmp_path).stop() is None


def test_credentials_in_printed_urls_are_redacted():
    line = 'msg="server config" env="map[HTTPS_PROXY:http://alice:s3cret@proxy:3128 OLLAMA_HOST:http://127.0.0.1:0]"'
    redacted = redact_line(line)
    assert "s3cret" not in redacted
    assert "alice" not in redacted
    assert "http://***@proxy:3128" in redacted
    assert "http://127.0.0.1:0" in redacted


def _task_code(tmp_path: Path) -> str:
    """A task process's code: start a server (a stand-in script), print its PID, then keep working."""
    server_script = write_script(tmp_path / "server", LISTEN_THEN_WAIT)
    return f"""
        import os, time
        from pathlib import Path
        from airflow_provider_ollama.server.process import ServerProcess
        process = ServerProcess([{str(server_script)!r}, "serve"], env=dict(os.environ),
                                log_path=Path({str(tmp_path / "server.log")!r}))
        process.start()
        process.wait_for_port(30)
        print(f"SERVER_PID={{process.pid}}\\n", end="", flush=True)  # one write: log lines of other threads cannot split it
        time.sleep(600)
        """


def test_watchdog_kills_the_server_group_when_the_task_process_is_sigkilled(tmp_path):
    with task_process(_task_code(tmp_path)) as (task, server_pid):
        assert not is_gone(server_pid)
        sigkill_and_wait(task)
        assert wait_until_gone(server_pid, timeout=2), f"ollama serve (pid {server_pid}) outlived its task"


def test_watchdog_kills_the_server_group_when_the_task_loses_its_supervisor(tmp_path):
    # A Celery worker SIGKILLed mid-task: the task's supervisor dies with it, the task process (in a group
    # of its own, as Airflow 3.3 puts it) runs on unsupervised and Airflow retries the task elsewhere.
    task_code = _task_code(tmp_path)
    supervisor_code = f"""
        import subprocess, sys, textwrap
        task = subprocess.Popen([sys.executable, "-c", textwrap.dedent({task_code!r})], start_new_session=True)
        task.wait()
        """
    task_pid = None
    try:
        with task_process(supervisor_code) as (supervisor, server_pid):
            task_pid = parent_of(server_pid)
            assert task_pid is not None
            sigkill_and_wait(supervisor)
            assert wait_until_gone(server_pid, timeout=3), (
                f"ollama serve (pid {server_pid}) outlived its supervisor"
            )
            assert not is_gone(task_pid), (
                "the orphaned task itself runs on: only the pipe's end would not show it"
            )
    finally:
        if task_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(task_pid, signal.SIGKILL)
