"""The JSON-schema batch example runs end to end with dag.test() against the emulator and its registry."""

from __future__ import annotations

import json

import jsonschema
import pytest

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.operators.batch_reference import Reference, batch_reference
from tests.support.dag_runs import REPO_ROOT, run_dag

__all__ = ["batch_reference"]

pytestmark = pytest.mark.airflow


def test_example_batch_schema_dag_classifies_every_ticket_with_parsed_json(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory, batch_reference: Reference
) -> None:
    from dags.example_ollama_batch_schema import TICKET_SCHEMA

    emulator = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_batch_schema.py",
        "example_ollama_batch_schema",
        conf={"model": batch_reference.model, "insecure_registry": True},
    )

    result.assert_success()
    records = result.xcoms["classify_tickets"]
    assert [record["index"] for record in records] == list(range(5))
    for record, prompt in zip(records, result.xcoms["load_tickets"], strict=True):
        jsonschema.validate(record["response"], TICKET_SCHEMA)
        expected = batch_reference.generate(
            prompt,
            system="You triage support tickets. Reply with JSON only.",
            format=TICKET_SCHEMA,
            options={"temperature": 0},
        )
        assert record["response"] == json.loads(expected.response or "")
    report = result.xcoms["count_by_category"]
    assert sum(report["by_category"].values()) == 5
    assert report["urgent"] == [i for i, record in enumerate(records) if record["response"]["urgent"]]
