"""OllamaServerReadyTrigger against an emulator process, with asyncio debug on, and the event's validation."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]  # re-exported, not in __all__

try:
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # Airflow 3.1 keeps serde in core
    from airflow.serialization.serde import deserialize, serialize  # type: ignore[import-not-found,no-redef]

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaError,
    OllamaServerNotReadyError,
    OllamaTriggerEventError,
)
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulatorProcess
from airflow_provider_ollama.triggers import TriggerStatus
from airflow_provider_ollama.triggers.ollama import (
    OllamaServerReadyTrigger,
    deadline_to_epoch,
    raise_for_server_ready_event,
)
from tests.server.connections import use_ollama_connection
from tests.support.ports import unused_port

CONN_ID = "ollama_trigger_test"
TRIGGER_CLASSPATH = "airflow_provider_ollama.triggers.ollama.OllamaServerReadyTrigger"
SLOW_CALLBACK_S = 0.05


@pytest.fixture
def no_slow_callbacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if the event loop (in debug mode) reported a callback slower than 50 ms."""
    caplog.set_level(logging.INFO)
    yield
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, f"the trigger blocked the event loop: {slow}"


async def _events(trigger: OllamaServerReadyTrigger, timeout: float = 60) -> list[dict[str, Any]]:
    """Every event ``trigger.run()`` yields, with asyncio debug mode watching for blocking calls."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S

    async def collect() -> list[dict[str, Any]]:
        run: AsyncIterator[Any] = trigger.run()
        return [event.payload async for event in run]

    return await asyncio.wait_for(collect(), timeout)


@pytest.fixture
def emulator() -> Iterator[OllamaEmulatorProcess]:
    with OllamaEmulatorProcess() as running:
        yield running


# --- serialisation ---------------------------------------------------------------------------------


@pytest.mark.smoke
def test_serialised_trigger_rebuilds_identically_through_its_classpath():
    trigger = OllamaServerReadyTrigger(
        CONN_ID, wait_for_models=["llama3.2:1b"], end_time=1_900_000_000.5, poke_interval=2
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_CLASSPATH
    assert kwargs == {
        "ollama_conn_id": CONN_ID,
        "wait_for_models": ["llama3.2:1b"],
        "end_time": 1_900_000_000.5,
        "poke_interval": 2.0,
    }
    # What the task runner stores and the triggerer reads back.
    stored = deserialize(serialize(kwargs))
    assert isinstance(stored, dict)
    assert json.loads(json.dumps(stored)) == kwargs
    rebuilt = import_string(classpath)(**stored)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_serialised_trigger_carries_no_connection_secrets(monkeypatch):
    use_ollama_connection(monkeypatch, CONN_ID, 11434, token="s3cret-token")
    _, kwargs = OllamaServerReadyTrigger(CONN_ID, end_time=time.time()).serialize()
    assert "s3cret-token" not in json.dumps(kwargs)


@pytest.mark.parametrize(
    "end_time",
    [
        1_900_000_000,
        "1900000000",
        "2030-03-17T17:46:40+00:00",
        "2030-03-17T17:46:40Z",
        datetime(2030, 3, 17, 17, 46, 40, tzinfo=timezone.utc),
    ],
)
def test_end_time_is_an_absolute_wall_clock_deadline_in_any_form(end_time):
    assert deadline_to_epoch(end_time) == 1_900_000_000.0


@pytest.mark.parametrize("end_time", [datetime(2030, 1, 1), "tomorrow", True])
def test_end_time_without_zone_or_meaning_is_rejected(end_time):
    with pytest.raises(ValueError, match="end_time"):
        deadline_to_epoch(end_time)


# --- running ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ready_server_yields_one_success_event_with_its_version(
    emulator, monkeypatch, no_slow_callbacks
):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    events = await _events(OllamaServerReadyTrigger(CONN_ID, end_time=time.time() + 30, poke_interval=0.2))
    assert len(events) == 1
    assert events[0]["status"] == TriggerStatus.SUCCESS.value
    assert events[0]["version"] == emulator.settings.version
    assert events[0]["url"] == f"http://127.0.0.1:{emulator.port}"
    assert events[0]["missing_models"] == []


@pytest.mark.asyncio
async def test_refused_connections_mean_not_ready_until_the_server_comes_up(monkeypatch, no_slow_callbacks):
    port = unused_port()
    use_ollama_connection(monkeypatch, CONN_ID, port)
    late_server = OllamaEmulatorProcess(port=port)
    # The server comes up a second after the trigger starts polling.
    starter = threading.Timer(1.0, late_server.start)
    started = time.monotonic()
    starter.start()
    try:
        events = await _events(
            OllamaServerReadyTrigger(CONN_ID, end_time=time.time() + 30, poke_interval=0.2)
        )
    finally:
        starter.cancel()
        starter.join()
        late_server.close()
    assert [event["status"] for event in events] == ["success"]
    # Nothing listened for the first second: the trigger waited through refused connections.
    assert time.monotonic() - started >= 1.0


@pytest.mark.asyncio
async def test_5xx_storm_is_polled_at_the_interval_not_in_a_busy_loop(
    emulator, monkeypatch, no_slow_callbacks
):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    storm = 100_000
    emulator.faults.fail_next(storm, status=500)
    window, poke_interval = 2.0, 0.25
    started = time.monotonic()
    events = await _events(
        OllamaServerReadyTrigger(CONN_ID, end_time=time.time() + window, poke_interval=poke_interval)
    )
    elapsed = time.monotonic() - started
    remaining = emulator.faults.describe()["errors"][0]["remaining"]
    requests = storm - remaining
    checks_expected = window / poke_interval + 1
    # Each check is one request: GET / answers why it failed, no second request to ask.
    assert 2 <= requests <= checks_expected + 2, f"{requests} requests in {elapsed:.1f} s"
    assert window - 0.1 <= elapsed < window + 2
    assert events[0]["status"] == "timeout"
    assert f"http://127.0.0.1:{emulator.port}" in events[0]["message"]
    assert "500" in events[0]["message"]


@pytest.mark.asyncio
async def test_deadline_is_absolute_and_kept_by_a_trigger_rebuilt_after_a_restart(
    monkeypatch, no_slow_callbacks
):
    use_ollama_connection(monkeypatch, CONN_ID, unused_port())
    started = time.time()
    # The deadline leaves 2 s of slack after the first triggerer's second, for a loaded machine.
    first = OllamaServerReadyTrigger(CONN_ID, end_time=started + 3.0, poke_interval=0.2)
    classpath, kwargs = first.serialize()
    # The triggerer dies after a second of polling...
    with pytest.raises(asyncio.TimeoutError):
        await _events(first, timeout=1.0)
    # ...and another one rebuilds the trigger from what was stored: the deadline has not moved.
    stored = deserialize(serialize(kwargs))
    assert isinstance(stored, dict)
    rebuilt = import_string(classpath)(**stored)
    assert rebuilt.end_time == started + 3.0
    events = await _events(rebuilt)
    finished = time.time()
    assert events[0]["status"] == "timeout"
    # A restarted clock would end at 1 s (first run) + 3 s (a fresh deadline) = 4 s at the earliest.
    assert started + 3.0 <= finished < started + 4.0, "the rebuilt trigger restarted the clock"


@pytest.mark.asyncio
async def test_named_models_missing_then_present(emulator, ollama_registry, monkeypatch, no_slow_callbacks):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    model = ollama_registry.model_name("tiny")
    # Another task pulls the model a second after the trigger starts waiting for it.
    puller = threading.Timer(1.0, lambda: OllamaHook(base_url=emulator.url).pull(model, insecure=True))
    started = time.monotonic()
    puller.start()
    try:
        events = await _events(
            OllamaServerReadyTrigger(
                CONN_ID, wait_for_models=[model], end_time=time.time() + 30, poke_interval=0.2
            )
        )
    finally:
        puller.cancel()
        puller.join()
    assert time.monotonic() - started >= 1.0
    assert [event["status"] for event in events] == ["success"]
    assert events[0]["missing_models"] == []


@pytest.mark.asyncio
async def test_models_still_missing_at_the_deadline_are_named(emulator, monkeypatch, no_slow_callbacks):
    use_ollama_connection(monkeypatch, CONN_ID, emulator.port)
    events = await _events(
        OllamaServerReadyTrigger(
            CONN_ID, wait_for_models=["tiny", "llama3.2:1b"], end_time=time.time() + 1, poke_interval=0.2
        )
    )
    assert events[0]["status"] == "timeout"
    assert events[0]["missing_models"] == ["tiny", "llama3.2:1b"]
    assert "tiny, llama3.2:1b did not appear" in events[0]["message"]
    with pytest.raises(OllamaServerNotReadyError, match=r"llama3\.2:1b"):
        raise_for_server_ready_event(events[0])


@pytest.mark.asyncio
async def test_rejected_token_ends_the_wait_at_once_with_an_auth_error(monkeypatch, no_slow_callbacks):
    # Its own readiness probe carries no token, so the test does not wait for it: the trigger does.
    with OllamaEmulatorProcess(required_token="right-token").start(wait_ready=False) as guarded:
        use_ollama_connection(monkeypatch, CONN_ID, guarded.port, token="wrong-token")
        started = time.monotonic()
        events = await _events(
            OllamaServerReadyTrigger(CONN_ID, end_time=time.time() + 60, poke_interval=0.2)
        )
        assert time.monotonic() - started < 10
        assert events[0]["status"] == "error"
        assert events[0]["error_type"] == "OllamaAuthError"
        assert "wrong-token" not in json.dumps(events[0])

        use_ollama_connection(monkeypatch, CONN_ID, guarded.port, token="right-token")
        events = await _events(
            OllamaServerReadyTrigger(CONN_ID, end_time=time.time() + 30, poke_interval=0.2)
        )
        assert events[0]["status"] == "success"


@pytest.mark.asyncio
async def test_unknown_connection_ends_the_wait_with_an_error_naming_it(no_slow_callbacks):
    events = await _events(
        OllamaServerReadyTrigger("no_such_ollama", end_time=time.time() + 30, poke_interval=0.2)
    )
    assert events[0]["status"] == "error"
    assert "no_such_ollama" in events[0]["message"]


# --- the event, back on the worker ------------------------------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "status": "success",
        "message": "Ollama 0.12.6 at http://127.0.0.1:11434 is ready",
        "url": "http://127.0.0.1:11434",
        "version": "0.12.6",
        "missing_models": [],
        "error_type": None,
    }
    return {**event, **fields}


def test_success_event_is_returned():
    assert raise_for_server_ready_event(_event())["version"] == "0.12.6"


@pytest.mark.parametrize("event", [None, "success", {"message": "no status"}, _event(status="maybe")])
def test_missing_or_unknown_event_raises_trigger_event_error(event):
    with pytest.raises(OllamaTriggerEventError):
        raise_for_server_ready_event(event)


def test_malformed_event_raises_trigger_event_error():
    with pytest.raises(OllamaTriggerEventError, match="Malformed"):
        raise_for_server_ready_event(_event(missing_models="tiny"))


def test_timeout_event_raises_a_typed_timeout_carrying_the_message():
    message = "The Ollama server at http://ollama:11434 did not answer; missing tiny"
    with pytest.raises(OllamaServerNotReadyError, match="http://ollama:11434"):
        raise_for_server_ready_event(_event(status="timeout", message=message, missing_models=["tiny"]))


def test_error_event_raises_the_provider_error_the_trigger_met():
    with pytest.raises(OllamaAuthError, match="refused"):
        raise_for_server_ready_event(_event(status="error", message="refused", error_type="OllamaAuthError"))


@pytest.mark.parametrize("error_type", [None, "SystemExit", "KeyboardInterrupt", "nonsense"])
def test_error_event_never_raises_a_class_outside_the_provider_family(error_type):
    with pytest.raises(OllamaError) as raised:
        raise_for_server_ready_event(_event(status="error", message="boom", error_type=error_type))
    assert type(raised.value) is OllamaError


@pytest.mark.asyncio
async def test_slow_callback_detection_catches_a_blocking_call(caplog):
    """The guard the other trigger tests rely on can fail: a blocking sleep on the loop is reported."""
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S

    async def blocks() -> None:
        time.sleep(0.2)  # noqa: ASYNC251 - deliberately blocking

    # Debug timing applies to callbacks that start after set_debug(): run the blocking code in its own task.
    await asyncio.create_task(blocks())
    assert any(r.name == "asyncio" and "took" in r.getMessage() for r in caplog.records)
