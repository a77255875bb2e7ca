"""LocalOllamaServer against the emulator standing in for ``ollama``: start, readiness, isolation, stop, orphans."""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from airflow_provider_ollama.exceptions import (
    OllamaBinaryNotFoundError,
    OllamaGPUUnavailableError,
    OllamaModelNotFoundError,
    OllamaServerStartError,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.server.local import LocalOllamaServer
from airflow_provider_ollama.server.settings import LocalServer
from tests.server.processes import (
    is_gone,
    kill_leftover_group,
    sigkill_and_wait,
    task_process,
    wait_until_gone,
    wait_until_removed,
    watchdog_pids,
)


def _environ(pid: int) -> dict[str, str]:
    """The environment a running process was started with (Linux /proc)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder per-task servers make their temporary directories in, for this test alone."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _work_dir(server_pid: int) -> Path:
    """A running per-task server's temporary directory: the parent of the HOME it was given."""
    return Path(_environ(server_pid)["HOME"]).parent


class RecordingPreparer:
    """A preparer that records what the server asked of it and prepares nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def prepare(self, hook: OllamaHook, models: Sequence[str], *, models_dir: Path) -> None:
        assert hook.is_ready(), "prepare must run once the server answers HTTP"
        assert models_dir.is_dir(), "prepare gets the server's model store"
        self.calls.append(("prepare", list(models)))


@pytest.mark.smoke
def test_server_starts_answers_http_and_stops(ollama_binary):
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
        assert server.url is not None
        assert server.url.startswith("http://127.0.0.1:")
        assert server.hook.version()
        pid = server.pid
        assert pid is not None
    assert wait_until_gone(pid, timeout=2)
    assert not server.is_running


def test_named_models_are_pulled_before_the_work_and_generate(ollama_binary, ollama_registry):
    model = ollama_registry.model_name("tiny")
    with LocalOllamaServer(LocalServer(binary=ollama_binary), models=[model]) as server:
        assert server.hook.has_model(model)
        assert server.hook.generate(model, "Why is the sky blue?", options={"num_predict": 8}).response
        assert server.models_dir is not None
        assert list((server.models_dir / "blobs").iterdir())


def test_shared_store_reuses_models_a_previous_server_pulled(ollama_binary, ollama_registry, tmp_path):
    model = ollama_registry.model_name("tiny")
    store = tmp_path / "store"
    with LocalOllamaServer(
        LocalServer(binary=ollama_binary, models_dir=store),
        models=[model],
    ):
        pass
    served = ollama_registry.stats.blob_bytes_served
    with LocalOllamaServer(
        LocalServer(binary=ollama_binary, models_dir=store),
        models=[model],
    ) as server:
        assert server.hook.has_model(model)
    assert ollama_registry.stats.blob_bytes_served == served, "the second server pulled again"


def test_require_gpu_fails_clearly_when_the_model_loads_without_vram(ollama_binary, ollama_registry):
    model = ollama_registry.model_name("tiny")
    server = LocalOllamaServer(
        LocalServer(binary=ollama_binary, require_gpu=True),
        models=[model],
    )
    with pytest.raises(OllamaGPUUnavailableError) as raised:
        server.start()
    message = str(raised.value)
    assert "0 of" in message
    assert "nvidia-smi" in message
    assert "nvidia.com/gpu" in message
    assert "gpus=" in message
    assert server.pid is not None
    assert is_gone(server.pid), "a failed GPU check must not leave the server running"


def test_require_gpu_passes_when_the_model_sits_in_vram(ollama_binary, ollama_registry):
    model = ollama_registry.model_name("tiny")
    server = LocalOllamaServer(
        LocalServer(binary=ollama_binary, require_gpu=True, keep_alive=-1, env={"OLLAMA_EMULATOR_GPU": "1"}),
        models=[model],
    )
    with server:
        loaded = server.hook.ps()
    assert [entry.size_vram for entry in loaded] == [entry.size for entry in loaded]


def test_require_gpu_also_checks_an_embedding_model_first_in_the_list(ollama_binary, ollama_registry):
    model = ollama_registry.model_name("tiny-embed")
    server = LocalOllamaServer(
        LocalServer(binary=ollama_binary, require_gpu=True, env={"OLLAMA_EMULATOR_GPU": "1"}),
        models=[model],
    )
    with server:
        assert [entry.model for entry in server.hook.ps()] == [model]


def test_two_servers_on_one_worker_get_different_ports_and_both_answer(ollama_binary):
    with (
        LocalOllamaServer(LocalServer(binary=ollama_binary)) as first,
        LocalOllamaServer(LocalServer(binary=ollama_binary)) as second,
    ):
        assert first.url != second.url
        assert first.hook.version() == second.hook.version()
        assert first.models_dir != second.models_dir


def test_server_that_listens_before_it_serves_is_ready_only_when_http_answers(ollama_binary):
    # The emulator accepts TCP connections at once but answers HTTP after 2 s, like Ollama during GPU
    # discovery: a TCP probe would call it ready far too early.
    server = LocalOllamaServer(LocalServer(binary=ollama_binary, env={"OLLAMA_EMULATOR_START_DELAY": "2"}))
    started = time.monotonic()
    with server:
        elapsed = time.monotonic() - started
        assert server.hook.is_ready(timeout=0.5)
    assert elapsed >= 2


def test_crash_during_start_raises_with_the_servers_last_log_lines(ollama_binary):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary, env={"OLLAMA_EMULATOR_CRASH_ON_START": "1"}))
    started = time.monotonic()
    with pytest.raises(OllamaServerStartError) as raised:
        server.start()
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "exited with code 1" in message
    assert "unable to start server" in message


def test_missing_binary_fails_before_anything_starts(tmp_path):
    server = LocalOllamaServer(LocalServer(binary=tmp_path / "no-such-ollama"))
    with pytest.raises(OllamaBinaryNotFoundError, match=r"install\.sh"):
        server.start()
    assert server.pid is None


def test_fixed_port_already_taken_fails_fast_naming_the_port(ollama_binary):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalOllamaServer(LocalServer(binary=ollama_binary), port=port)
        started = time.monotonic()
        with pytest.raises(OllamaServerStartError) as raised:
            server.start()
        assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}: bind: address already in use" in str(raised.value)


def test_default_port_never_collides_with_a_taken_one(ollama_binary):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
            assert server.url != f"http://127.0.0.1:{taken.getsockname()[1]}"
            assert server.hook.is_ready()


def test_each_server_has_its_own_home_and_model_store_removed_at_stop(ollama_binary):
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
        assert server.pid is not None
        environment = _environ(server.pid)
        models_dir = Path(environment["OLLAMA_MODELS"])
        home = Path(environment["HOME"])
        assert models_dir == server.models_dir
        assert home != Path.home()
        # `ollama serve` writes its key pair below HOME at start.
        assert (home / ".ollama" / "id_ed25519").exists()
        assert environment["OLLAMA_HOST"] == "127.0.0.1:0"
        assert "OLLAMA_NOPRUNE" not in environment
    assert not models_dir.exists()
    assert not home.exists()


def test_shared_model_store_is_kept_and_never_pruned(ollama_binary, tmp_path):
    store = tmp_path / "store"
    with LocalOllamaServer(LocalServer(binary=ollama_binary, models_dir=store)) as server:
        assert server.pid is not None
        environment = _environ(server.pid)
        assert environment["OLLAMA_MODELS"] == str(store)
        assert environment["OLLAMA_NOPRUNE"] == "1"
    assert store.is_dir()


def test_settings_and_gpu_selection_reach_the_servers_environment(ollama_binary):
    server = LocalOllamaServer(
        LocalServer(
            binary=ollama_binary,
            gpus=["GPU-1234", "GPU-5678"],
            keep_alive="10m",
            num_parallel=3,
            context_length=8192,
            flash_attention=False,
            env={"OLLAMA_DEBUG": "1"},
        )
    )
    with server:
        assert server.pid is not None
        environment = _environ(server.pid)
    assert environment["CUDA_VISIBLE_DEVICES"] == "GPU-1234,GPU-5678"
    assert environment["ROCR_VISIBLE_DEVICES"] == "GPU-1234,GPU-5678"
    assert "HIP_VISIBLE_DEVICES" not in environment
    assert environment["OLLAMA_KEEP_ALIVE"] == "10m"
    assert environment["OLLAMA_NUM_PARALLEL"] == "3"
    assert environment["OLLAMA_CONTEXT_LENGTH"] == "8192"
    assert environment["OLLAMA_FLASH_ATTENTION"] == "0"
    assert environment["OLLAMA_DEBUG"] == "1"


def test_server_output_goes_to_the_task_log_and_to_no_file_of_its_own(ollama_binary, caplog, scratch_root):
    caplog.set_level(logging.INFO, logger="airflow_provider_ollama")
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
        port = server.url.rsplit(":", 1)[1] if server.url else ""
        assert server.log_path is None
        written = [path.name for path in scratch_root.rglob("*") if path.is_file()]
        assert not [name for name in written if name.endswith(".log")], written
    assert any(f"Listening on 127.0.0.1:{port}" in record.getMessage() for record in caplog.records)


def test_a_log_file_named_by_the_user_gets_the_output_and_is_kept(ollama_binary, tmp_path):
    log_path = tmp_path / "logs" / "ollama.log"
    with LocalOllamaServer(LocalServer(binary=ollama_binary), log_path=log_path) as server:
        port = server.url.rsplit(":", 1)[1] if server.url else ""
    assert f"Listening on 127.0.0.1:{port}" in log_path.read_text()


def test_error_in_the_work_stops_the_server_and_propagates(ollama_binary):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary))

    def work_that_fails() -> None:
        with server:
            raise ZeroDivisionError("the work failed")

    with pytest.raises(ZeroDivisionError):
        work_that_fails()
    assert server.pid is not None
    assert wait_until_gone(server.pid, timeout=2)


def test_stop_is_idempotent_and_safe_from_several_threads(ollama_binary):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary)).start()
    pid = server.pid
    assert pid is not None
    stoppers = [threading.Thread(target=server.stop) for _ in range(4)]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(30)
    server.stop()
    assert is_gone(pid)


def test_stop_from_another_thread_while_starting_aborts_the_start(ollama_binary):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary, env={"OLLAMA_EMULATOR_START_DELAY": "30"}))
    timer = threading.Timer(1.0, server.stop)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(OllamaServerStartError):
            server.start()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    assert server.pid is not None
    assert is_gone(server.pid)


def test_a_stopped_server_cannot_be_restarted(ollama_binary):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary))
    with server:
        pass
    with pytest.raises(RuntimeError, match="new LocalOllamaServer"):
        server.start()


def test_preparer_runs_once_after_readiness_and_the_server_checks_its_work(ollama_binary):
    preparer = RecordingPreparer()
    with pytest.raises(OllamaModelNotFoundError, match="RecordingPreparer did not make tiny"):
        LocalOllamaServer(LocalServer(binary=ollama_binary), models=["tiny"], preparer=preparer).start()
    assert preparer.calls == [("prepare", ["tiny"])]

    preparer = RecordingPreparer()
    with pytest.raises(KeyError), LocalOllamaServer(LocalServer(binary=ollama_binary), preparer=preparer):
        raise KeyError("work failed")
    assert preparer.calls == [("prepare", [])]


def test_the_server_is_what_its_settings_say():
    settings = LocalServer(keep_alive="15m", num_parallel=2, gpus=None, env={"OLLAMA_DEBUG": "1"})
    server = LocalOllamaServer(settings, models=["tiny"], timeout=5)
    assert server.settings is settings
    assert server.models == ["tiny"]
    assert server.timeout == 5
    assert LocalOllamaServer().settings == LocalServer()


@pytest.mark.parametrize(
    ("settings", "kwargs", "message"),
    [
        (LocalServer(), {"models": "llama3"}, "list of model names"),
        (LocalServer(), {"models": ["bad name!"]}, "invalid model name"),
        (LocalServer(require_gpu=True, gpus=None), {"models": ["m"]}, "contradicts"),
        (LocalServer(require_gpu=True), {}, "needs models"),
        (LocalServer(), {"port": 70000}, "port"),
        (LocalServer(gpus=[-1]), {}, "gpus"),
        (LocalServer(env={"HOME": "/"}), {}, r"LocalOllamaServer\(home=\)"),
        (LocalServer(models_dir="/data/{{ ds }}"), {}, "models_dir is still a template"),
    ],
)
def test_bad_settings_or_arguments_fail_at_construction(settings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalOllamaServer(settings, **kwargs)


# --- nothing stays on disk ----------------------------------------------------------------------------


def test_nothing_of_the_server_stays_on_disk_after_a_normal_stop(ollama_binary, scratch_root):
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
        assert server.pid is not None
        assert _work_dir(server.pid).parent == scratch_root
    assert list(scratch_root.iterdir()) == []


def test_nothing_of_the_server_stays_on_disk_when_the_work_fails(ollama_binary, scratch_root):
    with pytest.raises(ZeroDivisionError), LocalOllamaServer(LocalServer(binary=ollama_binary)):
        raise ZeroDivisionError("the work failed")
    assert list(scratch_root.iterdir()) == []


def test_nothing_of_the_server_stays_on_disk_when_it_crashes_at_start(ollama_binary, scratch_root):
    server = LocalOllamaServer(LocalServer(binary=ollama_binary, env={"OLLAMA_EMULATOR_CRASH_ON_START": "1"}))
    with pytest.raises(OllamaServerStartError, match="unable to start server"):
        server.start()
    assert list(scratch_root.iterdir()) == []


@pytest.mark.parametrize("trial", range(1, 6))
def test_a_sigkilled_task_leaves_neither_its_server_nor_its_directory(ollama_binary, monkeypatch, trial):
    # The emulator can watch its parent too; that switch stays off so only our watchdog can pass this.
    monkeypatch.delenv("OLLAMA_EMULATOR_PARENT_PID", raising=False)
    code = f"""
        import time
        from airflow_provider_ollama.server import LocalOllamaServer, LocalServer
        server = LocalOllamaServer(LocalServer(binary={str(ollama_binary)!r})).start()
        print(f"SERVER_PID={{server.pid}}\\n", end="", flush=True)  # one write: log lines of other threads cannot split it
        time.sleep(600)
        """
    with task_process(code) as (task, server_pid):
        work_dir = _work_dir(server_pid)
        assert (work_dir / "models").is_dir()
        killed = time.monotonic()
        sigkill_and_wait(task)
        assert wait_until_gone(server_pid, timeout=2), f"ollama serve (pid {server_pid}) outlived its task"
        assert wait_until_removed(work_dir, timeout=3), f"trial {trial}: {work_dir} outlived its task"
        elapsed = time.monotonic() - killed
    print(f"trial {trial}: server and {work_dir.name} gone {elapsed:.2f} s after SIGKILL")


def test_a_server_start_removes_what_a_task_killed_with_its_watchdog_left(ollama_binary, scratch_root):
    # SIGKILL of the task and its watchdog together (a container's OOM kill, say): nobody removed the
    # folder. The next per-task server on this worker does, as the folder's marker proves it abandoned.
    code = f"""
        import tempfile, time
        tempfile.tempdir = {str(scratch_root)!r}
        from airflow_provider_ollama.server import LocalOllamaServer, LocalServer
        server = LocalOllamaServer(LocalServer(binary={str(ollama_binary)!r})).start()
        print(f"SERVER_PID={{server.pid}}\\n", end="", flush=True)  # one write: log lines of other threads cannot split it
        time.sleep(600)
        """
    with task_process(code) as (task, server_pid):
        abandoned = _work_dir(server_pid)
        for watchdog in watchdog_pids(server_pid):
            os.kill(watchdog, signal.SIGKILL)
        sigkill_and_wait(task)
        kill_leftover_group(server_pid)
        assert wait_until_gone(server_pid, timeout=5)
    assert abandoned.is_dir(), "nothing should have removed it yet"
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as server:
        assert server.pid is not None
        assert not abandoned.exists()
        # The running server's own folder is in use, and stays until it stops.
        assert [path.name for path in scratch_root.iterdir()] == [_work_dir(server.pid).name]
    assert list(scratch_root.iterdir()) == []


def test_a_server_start_leaves_the_folder_of_another_running_server_alone(ollama_binary, scratch_root):
    with LocalOllamaServer(LocalServer(binary=ollama_binary)) as first:
        assert first.pid is not None
        with LocalOllamaServer(LocalServer(binary=ollama_binary)) as second:
            assert first.hook.version() == second.hook.version()
            assert _work_dir(first.pid).is_dir()
