"""The flagship pipeline runs end to end with dag.test() against the emulator and the registry emulator, on
the registry emulator's real model (SmolLM2-135M-Instruct on llama.cpp): the answers are the model's own,
so the test checks what only real weights give (the same answers again at temperature 0 with the seed
the Modelfile sets, every answer valid for the schema, counts in the model's own tokens)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import jsonschema
import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, run_dag
from tests.testing.llama.support import smollm2_path

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("llama")]

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
    smollm2_path()  # fails naming the real-model extra when it is not installed
    base_model = ollama_registry.model_name("smollm2:135m")  # real weights, on llama.cpp

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
    smollm2 = ollama_registry.catalogue.model("library/smollm2", "135m")
    assert smollm2 is not None
    assert result.xcoms["pull_base_model"] == {base_model: smollm2.digest}
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
    assert "seed" in shown["parameters"]

    # The model's own answers: asked again with the Modelfile's temperature 0 and seed, each ticket gets
    # the same answer in the same number of tokens, and the counts are the model's tokenizer's: context is
    # the prompt and the answer's text tokenized again, which lacks only the end-of-turn token that
    # stopped the answer (generated, so in eval_count, but no text).
    hook = OllamaHook(base_url=shared.url, timeout=120)
    for ticket, record in zip(result.xcoms["load_tickets"], records, strict=True):
        again = hook.generate("ticket-triage:test", ticket, format=TICKET_SCHEMA)
        assert json.loads(again.response or "") == record["response"]
        assert (again.prompt_eval_count, again.eval_count) == (
            record["prompt_eval_count"],
            record["eval_count"],
        )
        assert again.context is not None
        assert again.done_reason == "stop"
        assert len(again.context) == record["prompt_eval_count"] + record["eval_count"] - 1
