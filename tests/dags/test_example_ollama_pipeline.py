"""The flagship pipeline runs end to end with dag.test() against the emulator and the registry emulator."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import jsonschema
import pytest

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag

pytestmark = pytest.mark.airflow

EXAMPLE = REPO_ROOT / "dags" / "example_ollama_pipeline.py"
TASKS = (
    "wait_for_ollama",
    "pull_base_model",
    "create_triage_model",
    "load_tickets",
    "triage_tickets",
    "route_tickets",
)


def test_pipeline_waits_pulls_creates_from_the_modelfile_triages_with_the_schema_and_routes(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
) -> None:
    from dags.example_ollama_pipeline import TICKET_SCHEMA

    shared = ollama_emulator_factory()
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": shared.url}))
    # The example reads its Modelfile from the folder beside it; run_dag copies only the DAG file.
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.copytree(EXAMPLE.parent / "modelfiles", dags_folder / "modelfiles", dirs_exist_ok=True)
    base_model = ollama_registry.model_name("tiny")

    result = run_dag(
        EXAMPLE,
        "example_ollama_pipeline",
        conf={
            "base_model": base_model,
            "triage_model": "ticket-triage:test",
            "product": "Example Corp",
        },
    )

    result.assert_success()
    assert set(result.task_states) == set(TASKS)
    tiny = ollama_registry.catalogue.model("library/tiny")
    assert tiny is not None
    assert result.xcoms["pull_base_model"] == {base_model: tiny.digest}
    created = result.xcoms["create_triage_model"]
    assert created["model"] == "ticket-triage:test"
    assert created["status"] == "created"
    records = result.xcoms["triage_tickets"]
    assert [record["index"] for record in records] == list(range(5))
    for record in records:
        jsonschema.validate(record["response"], TICKET_SCHEMA)
    routed = result.xcoms["route_tickets"]
    assert routed["model"] == "ticket-triage:test"
    assert routed["model_digest"] == created["digest"]
    assert sum(routed["by_category"].values()) == 5
    tickets = [ticket.removeprefix("Ticket: ") for ticket in result.xcoms["load_tickets"]]
    assert routed["urgent"] == [
        ticket for ticket, record in zip(tickets, records, strict=True) if record["response"]["urgent"]
    ]
    # The Modelfile file was rendered with the run's params and reached the server whole.
    shown = httpx.post(f"{shared.url}/api/show", json={"model": "ticket-triage:test"}, timeout=10).json()
    assert shown["system"].startswith("You triage customer support tickets for Example Corp.")
    assert "temperature" in shown["parameters"]
    assert "num_ctx                        4096" in shown["parameters"]
    assert [message["role"] for message in shown["messages"]] == ["user", "assistant"]
