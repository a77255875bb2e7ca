"""OllamaPullTrigger: serialisation, one event per run, a restart that resumes safely, deadlines and errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]  # re-exported, not in __all__
from structlog.testing import capture_logs

try:
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # Airflow 3.1 keeps serde in core
    from airflow.serialization.serde import deserialize, serialize  # type: ignore[import-not-found,no-redef]

from airflow_provider_ollama.exceptions import OllamaModelNotFoundError, OllamaPullError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from airflow_provider_ollama.triggers import TriggerStatus
from airflow_provider_ollama.triggers.pull import OllamaPullTrigger, raise_for_pull_event

CONN_ID = "ollama_pull_trigger_test"
CLASSPATH = "airflow_provider_ollama.triggers.pull.OllamaPullTrigger"
#: Generous, so that a loaded CI machine does not fail the test; a blocking pull or lookup takes longer.
SLOW_CALLBACK_S = 0.5


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory) -> OllamaEmulator:
    started = ollama_emulator_factory()
    assert isinstance(started, OllamaEmulator)
    connection = {"conn_type": "ollama", "host": started.url}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    return started


def _trigger(models: list[str], *, seconds: float = 60, **kwargs: Any) -> OllamaPullTrigger:
    options: dict[str, Any] = {"insecure": True, "retry_delay": 0.05, **kwargs}
    return OllamaPullTrigger(CONN_ID, models=models, end_time=time.time() + seconds, **options)


def _rebuilt(trigger: OllamaPullTrigger) -> OllamaPullTrigger:
    """What the triggerer does: store the serialised kwargs, import the class, build it again."""
    classpath, kwargs = trigger.serialize()
    stored = deserialize(serialize(kwargs))
    assert isinstance(stored, dict)
    rebuilt = import_string(classpath)(**stored)
    assert isinstance(rebuilt, OllamaPullTrigger)
    return rebuilt


async def _events(trigger: OllamaPullTrigger, timeout: float = 60) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), timeout)


def _weights(registry: RegistryEmulator) -> tuple[str, int]:
    model = registry.catalogue.model("library/tiny")
    assert model is not None
    layer = model.manifest.layer("model")
    assert layer is not None
    return layer.digest, layer.size


# --- serialisation --------------------------------------------------------------------------------


@pytest.mark.smoke
def test_serialize_names_the_class_and_keeps_only_identifiers_and_numbers() -> None:
    trigger = OllamaPullTrigger(
        CONN_ID,
        models=["llama3.2:1b", "nomic-embed-text"],
        end_time=1_900_000_000.0,
        insecure=True,
        stall_timeout=45,
        retries=2,
        retry_delay=1.5,
        progress_interval=20,
    )
    assert trigger.serialize() == (
        CLASSPATH,
        {
            "ollama_conn_id": CONN_ID,
            "models": ["llama3.2:1b", "nomic-embed-text"],
            "end_time": 1_900_000_000.0,
            "insecure": True,
            "stall_timeout": 45,
            "retries": 2,
            "retry_delay": 1.5,
            "progress_interval": 20.0,
        },
    )


def test_a_rebuilt_trigger_serializes_the_same() -> None:
    trigger = _trigger(["tiny"], stall_timeout=12)
    assert _rebuilt(trigger).serialize() == trigger.serialize()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"models": []}, "non-empty list"),
        ({"models": "tiny"}, "non-empty list"),
        ({"models": ["tiny"], "stall_timeout": 0}, "stall_timeout must be positive"),
        ({"models": ["tiny"], "retries": -1}, "must not be negative"),
        ({"models": ["tiny"], "progress_interval": 0}, "progress_interval must be positive"),
    ],
)
def test_bad_arguments_fail_before_deferring(arguments: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        OllamaPullTrigger(CONN_ID, end_time=time.time() + 60, **arguments)


# --- runs -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_run_pulls_and_yields_one_success_event_with_digests_and_summaries(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    model = ollama_registry.model_name("tiny")
    events = await _events(_trigger([model]))
    assert len(events) == 1
    finished = raise_for_pull_event(events[0])
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    assert finished["digests"] == {model: built.digest}
    assert len(finished["summaries"]) == 1
    assert finished["summaries"][0].startswith(f"Pulled {model} ({built.digest}")


@pytest.mark.asyncio
async def test_the_trigger_never_blocks_the_triggerers_event_loop(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server runs in its own process, so only the trigger's own work runs on this loop.
    server = ollama_emulator_factory(process=True)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "ollama", "host": server.url})
    )
    # What a long-running triggerer has done long before: import the connection and client machinery.
    warm = OllamaHook(CONN_ID)
    await warm.aget_client()
    await warm.aclose()
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop = asyncio.get_running_loop()
    loop.set_debug(True)  # asyncio then reports every callback slower than slow_callback_duration
    loop.slow_callback_duration = SLOW_CALLBACK_S

    events = await _events(_trigger([ollama_registry.model_name("tiny")]))

    assert events[0]["status"] == TriggerStatus.SUCCESS.value
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, f"the trigger blocked the event loop: {slow}"


@pytest.mark.asyncio
async def test_a_restarted_trigger_pulls_again_and_the_download_resumes(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    # The registry sends half the weights and then stalls: the first trigger run is stopped mid-download,
    # like a triggerer that shuts down; its rebuilt copy issues the pull again.
    weights, size = _weights(ollama_registry)
    stall = ollama_registry.faults.stall(digest=weights, times=1)
    model = ollama_registry.model_name("tiny")
    trigger = _trigger([model], stall_timeout=60)

    half_way = f"layer {weights[7:19]}  50% of"
    with capture_logs() as logs:
        first_run = asyncio.ensure_future(_events(trigger))
        # The server reports 50 % once it has written that half: then stop the trigger.
        deadline = time.monotonic() + 20
        while not any(half_way in str(entry["event"]) for entry in logs):
            assert time.monotonic() < deadline, "the download never reached the stall"
            await asyncio.sleep(0.02)
        first_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first_run

    events = await _events(_rebuilt(trigger))

    assert stall.hits == 1
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    assert raise_for_pull_event(events[0])["digests"] == {model: built.digest}
    # Every byte of the weights crossed the network once: the second run continued the first one.
    assert ollama_registry.stats.blob_bytes_by_digest[weights] == size
    assert emulator.stats.counter("pulls") == 2


@pytest.mark.asyncio
async def test_a_trigger_rerun_after_success_is_harmless(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    trigger = _trigger([ollama_registry.model_name("tiny")])
    first = raise_for_pull_event((await _events(trigger))[0])
    served = ollama_registry.stats.blob_bytes_served

    again = raise_for_pull_event((await _events(_rebuilt(trigger)))[0])

    assert again["digests"] == first["digests"]
    assert ollama_registry.stats.blob_bytes_served == served
    assert "already up to date" in again["summaries"][0]


@pytest.mark.asyncio
async def test_a_deadline_already_passed_yields_timeout_without_pulling(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    events = await _events(_trigger([ollama_registry.model_name("tiny")], seconds=-1))
    assert [event["status"] for event in events] == [TriggerStatus.TIMEOUT.value]
    assert emulator.stats.counter("pulls") == 0


@pytest.mark.asyncio
async def test_a_pull_still_running_at_the_deadline_yields_one_timeout_event(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    weights, _ = _weights(ollama_registry)
    ollama_registry.faults.stall(digest=weights, times=1)
    started = time.monotonic()
    events = await _events(_trigger([ollama_registry.model_name("tiny")], seconds=1.0, stall_timeout=60))
    assert time.monotonic() - started < 5
    assert len(events) == 1
    assert events[0]["status"] == TriggerStatus.TIMEOUT.value
    assert "did not finish by" in events[0]["message"]


@pytest.mark.asyncio
async def test_an_unknown_model_yields_an_error_event_that_reraises_its_type(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    events = await _events(_trigger([ollama_registry.model_name("tinny")]))
    assert len(events) == 1
    assert events[0]["error_type"] == "OllamaModelNotFoundError"
    with pytest.raises(OllamaModelNotFoundError, match="has no model"):
        raise_for_pull_event(events[0])


@pytest.mark.asyncio
async def test_a_registry_refusing_the_pull_ends_the_trigger_at_once_without_retries(
    emulator: OllamaEmulator, ollama_registry: RegistryEmulator
) -> None:
    ollama_registry.faults.error(403, kinds={"manifest"})
    started = time.monotonic()
    # The default retry delay (5 s, then 10, 20): a retried pull would take 35 s.
    events = await _events(_trigger([ollama_registry.model_name("tiny")], retry_delay=5.0))
    assert time.monotonic() - started < 5
    assert emulator.stats.counter("pulls") == 1
    assert events[0]["error_type"] == "OllamaPullError"
    with pytest.raises(
        OllamaPullError, match=f"registry {ollama_registry.host} refused the pull with HTTP 403"
    ):
        raise_for_pull_event(events[0])
