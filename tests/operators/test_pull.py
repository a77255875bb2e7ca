"""OllamaPullOperator: digests in XCom, throttled progress, retries on 5xx and stalls, clear final errors, deferral."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from structlog.testing import capture_logs

from airflow_provider_ollama.exceptions import (
    OllamaModelNotFoundError,
    OllamaPullError,
    OllamaTriggerEventError,
)
from airflow_provider_ollama.operators.pull import OllamaPullOperator
from airflow_provider_ollama.registries import ENVIRONMENT_VARIABLE
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from airflow_provider_ollama.triggers.pull import OllamaPullTrigger
from tests.operators.pull_create_runs import SharedRun, on_shared_run, shared_run
from tests.support.tls_server import self_signed_tls_server

__all__ = ["shared_run"]  # the session fixture, imported so that pytest finds it here

FAST: dict[str, Any] = {"pull_retry_delay": 0.05, "insecure": True}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator:
    """An emulator with Ollama's own transfer timings, named by the ``ollama_default`` connection."""
    started = ollama_emulator_factory()
    assert isinstance(started, OllamaEmulator)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": started.url})
    )
    return started


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Log events of the operator (Airflow's task loggers are structlog loggers)."""
    with capture_logs() as captured:
        yield captured


def _messages(logs: list[MutableMapping[str, Any]], containing: str) -> list[str]:
    return [str(entry["event"]) for entry in logs if containing in str(entry["event"])]


def _model_digest(registry: RegistryEmulator, model: str = "tiny") -> str:
    built = registry.catalogue.model(f"library/{model}")
    assert built is not None
    return built.digest


def _weights_digest(registry: RegistryEmulator) -> str:
    built = registry.catalogue.model("library/tiny")
    assert built is not None
    return built.model_digest


# --- in a real DAG run (the session's shared run; see pull_create_runs.py) ---------------------------


@pytest.mark.airflow
@on_shared_run
def test_pull_in_a_dag_returns_model_to_manifest_digest(shared_run: SharedRun) -> None:
    assert shared_run.result.xcoms["pull"] == {shared_run.model: _model_digest(shared_run.registry)}


@pytest.mark.airflow
@on_shared_run
def test_deferrable_pull_in_a_dag_defers_and_returns_the_same_digests(shared_run: SharedRun) -> None:
    assert shared_run.deferred, "pull_deferred never deferred to its trigger"
    assert shared_run.result.xcoms["pull_deferred"] == shared_run.result.xcoms["pull"]
    # Both tasks sent a pull (the second found everything present); nothing was downloaded twice.
    assert shared_run.emulator.stats.counter("pulls") >= 2
    assert shared_run.registry.stats.blob_bytes_by_digest[_weights_digest(shared_run.registry)] == (
        shared_run.registry.catalogue.model("library/tiny").manifest.layer("model").size  # type: ignore[union-attr]
    )


# --- on the worker, against the emulator ---------------------------------------------------------------


def test_progress_lines_are_throttled_while_a_download_crawls(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, logs: list[MutableMapping[str, Any]]
) -> None:
    # Half the weights arrive, then the registry stalls for 1.5 s: the server keeps reporting (every
    # 60 ms, ~25 reports for this layer) while the operator should log only a few lines.
    ollama_registry.faults.stall(digest=_weights_digest(ollama_registry), seconds=1.5, times=1)
    operator = OllamaPullOperator(
        task_id="pull", model=ollama_registry.model_name("tiny"), progress_interval=0.5, **FAST
    )

    operator.execute({})

    layer_lines = _messages(logs, f"layer {_weights_digest(ollama_registry)[7:19]}")
    assert 3 <= len(layer_lines) <= 7, layer_lines
    assert any("50% of 1.0 MB" in line for line in layer_lines)
    assert "100% of 1.0 MB, done in" in layer_lines[-1]
    summary = _messages(logs, "Pulled ")
    assert len(summary) == 1
    # How much of it counts as downloaded depends on timing: Ollama reports a layer only on its 60 ms
    # ticker, and the bytes that arrived before the first report count as already there (as after a
    # resume). The stall holds back the second half, so it is between half the layer and all of it.
    line = summary[0]
    assert re.search(
        r"1\.0 MB\): ([5-9]\d\d\.\d KB|1\.0 MB) downloaded in [\d.]+ s \([\d.]+ MB/s\)$", line
    ), line


def test_a_second_pull_says_already_up_to_date(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, logs: list[MutableMapping[str, Any]]
) -> None:
    operator = OllamaPullOperator(task_id="pull", model=ollama_registry.model_name("tiny"), **FAST)
    first = operator.execute({})
    second = operator.execute({})
    assert first == second
    assert len(_messages(logs, "is already up to date")) == 1


def test_registry_5xx_is_retried_until_the_pull_succeeds(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, logs: list[MutableMapping[str, Any]]
) -> None:
    ollama_registry.faults.error(503, kinds={"manifest"}, times=2)
    model = ollama_registry.model_name("tiny")
    operator = OllamaPullOperator(task_id="pull", model=model, pull_retries=2, **FAST)

    assert operator.execute({}) == {model: _model_digest(ollama_registry)}
    assert emulator.stats.counter("pulls") == 3
    retries = _messages(logs, "Retrying in")
    assert len(retries) == 2
    assert "503" in retries[0]
    # The manifest failed, so nothing was downloaded that a retry could resume.
    assert not _messages(logs, "resumes")


def test_a_stalled_download_is_cancelled_and_resumed_where_it_stopped(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, logs: list[MutableMapping[str, Any]]
) -> None:
    # The registry sends half the weights, then nothing until released (Ollama itself waits 30 s).
    weights = _weights_digest(ollama_registry)
    ollama_registry.faults.stall(digest=weights, times=1)
    model = ollama_registry.model_name("tiny")
    operator = OllamaPullOperator(task_id="pull", model=model, stall_timeout=0.5, **FAST)

    assert operator.execute({}) == {model: _model_digest(ollama_registry)}
    assert _messages(logs, "No progress for 0.5 s (layer")
    assert _messages(logs, "the download resumes where it stopped")
    # The retry continued from the half already on the server: every byte was sent once.
    assert ollama_registry.stats.blob_bytes_by_digest[weights] == 1 << 20


def test_the_last_failed_attempt_raises_one_error_naming_model_registry_and_cause(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.error(502, kinds={"manifest"})
    model = ollama_registry.model_name("tiny")
    operator = OllamaPullOperator(task_id="pull", model=model, pull_retries=2, **FAST)

    with pytest.raises(OllamaPullError) as raised:
        operator.execute({})

    message = str(raised.value)
    assert f"Could not pull '{model}' from registry {ollama_registry.host}" in message
    assert "(3 attempts)" in message
    assert "Last cause:" in message
    assert "502" in message
    assert emulator.stats.counter("pulls") == 3


def test_a_server_that_sends_nothing_is_a_stall_too(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    emulator.faults.stall_next(10, path="/api/pull")
    operator = OllamaPullOperator(
        task_id="pull", model=ollama_registry.model_name("tiny"), stall_timeout=0.3, pull_retries=1, **FAST
    )
    with pytest.raises(OllamaPullError, match=r"No progress for 0.3 s \(the server sent nothing\)"):
        operator.execute({})
    emulator.faults.release()


def test_an_unknown_model_fails_at_once_without_retries(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    model = ollama_registry.model_name("tinny")
    operator = OllamaPullOperator(task_id="pull", model=model, pull_retries=3, **FAST)
    with pytest.raises(OllamaModelNotFoundError) as raised:
        operator.execute({})
    assert f"The registry {ollama_registry.host} has no model '{model}'" in str(raised.value)
    assert "typo" in str(raised.value)
    assert emulator.stats.counter("pulls") == 1


@pytest.fixture
def unresolvable_invalid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names under ``.invalid`` do not resolve, as for a registry host that does not exist or a worker
    without DNS: the resolver answers what glibc answers for an unknown name, without asking the network
    (tests only talk to 127.0.0.1)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _fails_at_once(
    operator: OllamaPullOperator, emulator: OllamaEmulator, logs: list[MutableMapping[str, Any]]
) -> str:
    """Run ``operator`` (retries and retry delay left at their defaults); the OllamaPullError's message,
    after checking it took one attempt, well under 5 s, and logged no retry."""
    started = time.monotonic()
    with pytest.raises(OllamaPullError) as raised:
        operator.execute({})
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert emulator.stats.counter("pulls") == 1
    assert not _messages(logs, "etrying"), "nothing was retried, so no line may say so"
    message = str(raised.value)
    assert "(1 attempt)" in message
    return message


def test_a_registry_host_that_does_not_resolve_fails_at_once_naming_it(
    emulator: OllamaEmulator, logs: list[MutableMapping[str, Any]], unresolvable_invalid_names: None
) -> None:
    model = "registry.example.invalid/library/tiny:latest"
    message = _fails_at_once(OllamaPullOperator(task_id="pull", model=model, insecure=True), emulator, logs)
    assert "registry host registry.example.invalid could not be reached: its name does not resolve" in message
    # The server's own words, whole, as Ollama words them.
    assert (
        'pull model manifest: Get "http://registry.example.invalid/v2/library/tiny/manifests/latest": '
        "dial tcp: lookup registry.example.invalid: no such host" in message
    )


def test_a_registry_whose_tls_certificate_is_not_trusted_fails_at_once_naming_it(
    emulator: OllamaEmulator,
    logs: list[MutableMapping[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "")  # a TLS registry on 127.0.0.1, unlike the emulators
    with self_signed_tls_server(tmp_path) as port:
        model = f"127.0.0.1:{port}/library/tiny:latest"
        message = _fails_at_once(OllamaPullOperator(task_id="pull", model=model), emulator, logs)
    assert f"registry host 127.0.0.1:{port} could not be reached: the TLS handshake failed" in message
    assert "x509: certificate signed by unknown authority" in message
    assert "CA certificate" in message


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_registry_answering_4xx_fails_at_once_naming_it(
    emulator: OllamaEmulator,
    ollama_registry: RegistryEmulator,
    logs: list[MutableMapping[str, Any]],
    status: int,
) -> None:
    ollama_registry.faults.error(status, kinds={"manifest"})
    model = ollama_registry.model_name("tiny")
    message = _fails_at_once(OllamaPullOperator(task_id="pull", model=model, insecure=True), emulator, logs)
    assert f"registry {ollama_registry.host} refused the pull with HTTP {status}" in message


def test_a_plain_http_registry_that_is_not_configured_fails_at_once_naming_the_option(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "registry.lab:5000")
    operator = OllamaPullOperator(task_id="pull", model=ollama_registry.model_name("tiny"), pull_retries=3)
    with pytest.raises(OllamaPullError) as failure:
        operator.execute({})
    assert f"Add {ollama_registry.host} to [ollama] insecure_registries" in str(failure.value)
    assert emulator.stats.counter("pulls") == 1


def test_a_configured_registry_needs_no_flag_and_the_flag_alone_is_enough(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ollama_registry.model_name("tiny")
    assert OllamaPullOperator(task_id="pull", model=model).execute({}) == {model: ANY}
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "")
    embed = ollama_registry.model_name("tiny-embed")
    assert OllamaPullOperator(task_id="pull", model=embed, insecure=True).execute({}) == {embed: ANY}


def test_pull_timeout_bounds_the_whole_pull(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.stall(digest=_weights_digest(ollama_registry), times=1)
    operator = OllamaPullOperator(
        task_id="pull", model=ollama_registry.model_name("tiny"), pull_timeout=0.5, **FAST
    )
    started = time.monotonic()
    with pytest.raises(OllamaPullError, match=r"did not finish within pull_timeout=0.5 s"):
        operator.execute({})
    assert time.monotonic() - started < 5


# --- deferral ---------------------------------------------------------------------------------------


def test_deferrable_pull_on_a_shared_server_hands_the_pull_to_its_trigger(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    model = ollama_registry.model_name("tiny")
    operator = OllamaPullOperator(
        task_id="pull",
        model=model,
        deferrable=True,
        stall_timeout=30,
        pull_retries=1,
        pull_timeout=600,
        **FAST,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OllamaPullTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["models"] == [model]
    assert kwargs["insecure"] is True
    assert kwargs["stall_timeout"] == 30
    assert kwargs["retries"] == 1
    assert before + 600 <= kwargs["end_time"] <= time.time() + 600
    assert deferred.value.method_name == "execute_pull_complete"
    assert emulator.stats.counter("pulls") == 0  # the worker itself pulled nothing


def test_resuming_with_a_success_event_logs_summaries_and_returns_digests(
    logs: list[MutableMapping[str, Any]],
) -> None:
    operator = OllamaPullOperator(task_id="pull", model="tiny")
    event = {
        "status": "success",
        "message": "done",
        "digests": {"tiny": "sha256:" + "a" * 64},
        "summaries": ["Pulled tiny (...)"],
        "error_type": None,
    }
    assert operator.execute_pull_complete({}, event) == {"tiny": "sha256:" + "a" * 64}
    assert _messages(logs, "Pulled tiny (...)")


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (None, OllamaTriggerEventError),
        ({"status": "weird"}, OllamaTriggerEventError),
        ({"status": "success", "message": "x"}, OllamaTriggerEventError),
        (
            {"status": "timeout", "message": "late", "digests": {}, "summaries": [], "error_type": None},
            OllamaPullError,
        ),
        (
            {
                "status": "error",
                "message": "no such model",
                "digests": {},
                "summaries": [],
                "error_type": "OllamaModelNotFoundError",
            },
            OllamaModelNotFoundError,
        ),
    ],
)
def test_resuming_with_a_failure_or_malformed_event_raises_a_typed_error(
    event: dict[str, Any] | None, error: type[Exception]
) -> None:
    operator = OllamaPullOperator(task_id="pull", model="tiny")
    with pytest.raises(error):
        operator.execute_pull_complete({}, event)


# --- arguments ---------------------------------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": "tiny", "stall_timeout": 0}, "stall_timeout must be positive"),
        ({"model": "tiny", "pull_retries": -1}, "must not be negative"),
        ({"model": "tiny", "pull_timeout": 0}, "pull_timeout must be positive"),
        ({"model": "tiny", "progress_interval": 0}, "progress_interval must be positive"),
    ],
)
def test_bad_arguments_that_are_not_templates_fail_when_the_dag_is_parsed(
    arguments: dict[str, Any], expected: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match="pull") as raised:
        OllamaPullOperator(task_id="pull", **arguments)
    assert expected in str(raised.value)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ([], "pull: model rendered to an empty list"),
        (["ok", "bad name"], "pull: invalid model name 'bad name'"),
        ("no good", "pull: invalid model name 'no good'"),
        ("{{ params.model }}", "pull: model is still a template"),
        (3, "pull: model rendered to 3"),
    ],
)
def test_model_is_checked_once_rendered_naming_the_task(model: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OllamaPullOperator(task_id="pull", model=model).execute({})


def test_templated_names_are_checked_once_rendered(emulator: OllamaEmulator) -> None:
    operator = OllamaPullOperator(task_id="pull", model="{{ params.model }}")
    operator.model = "not a name"  # what rendering produced
    with pytest.raises(ValueError, match="pull: invalid model name 'not a name'"):
        operator.execute({})
