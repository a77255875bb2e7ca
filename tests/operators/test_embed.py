"""OllamaEmbedOperator: vectors in dag.test() on shared and per-task servers, and its argument checks."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_ollama.operators.embed import OllamaEmbedOperator
from airflow_provider_ollama.server.settings import LocalServer
from tests.operators.batch_reference import Reference
from tests.operators.batch_runs import BatchRun

# The session's batch DAG runs (tests/operators/conftest.py) happen once per worker: keep their readers on one.
pytestmark = pytest.mark.xdist_group(name="ollama_batch_operator_runs")


@pytest.mark.airflow
def test_one_text_returns_its_record(shared_batch_run: BatchRun, batch_reference: Reference):
    record = shared_batch_run.result.xcoms["embed_one"]
    assert record["index"] == 0
    assert record["embedding"] == pytest.approx(batch_reference.embed(["A single sentence."])[0])
    assert math.isclose(sum(value * value for value in record["embedding"]), 1.0, rel_tol=1e-3)


@pytest.mark.airflow
def test_texts_come_back_one_vector_each_in_input_order(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    texts = [f"Passage number {index}." for index in range(5)]
    records = shared_batch_run.result.xcoms["embed_many"]
    assert [record["index"] for record in records] == list(range(5))
    expected = batch_reference.embed(texts)
    for record, vector in zip(records, expected, strict=True):
        assert record["embedding"] == pytest.approx(vector)


@pytest.mark.airflow
def test_texts_go_to_the_server_batch_size_at_a_time(shared_batch_run: BatchRun):
    assert shared_batch_run.emulator is not None
    # embed_one: 1 request; embed_many: 5 texts with batch_size=2 -> 3 requests.
    assert shared_batch_run.emulator.stats.requests_to("POST", "/api/embed") == 4


@pytest.mark.airflow
def test_texts_embedded_on_a_per_task_server(local_batch_run: BatchRun, batch_reference: Reference):
    records = local_batch_run.result.xcoms["embed_local"]
    for record, vector in zip(records, batch_reference.embed(["one", "two", "three"]), strict=True):
        assert record["embedding"] == pytest.approx(vector)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"input": None}, "nothing to embed"),
        ({"input": "a", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"input": "a", "dimensions": -1}, "dimensions must be a positive integer"),
    ],
)
def test_bad_arguments_that_are_not_templates_fail_when_the_dag_is_parsed(
    arguments: dict[str, Any], message: str
):
    with pytest.raises((ValueError, TypeError), match=r"^embed: ") as failure:
        OllamaEmbedOperator(task_id="embed", model="nomic-embed-text", **arguments)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"input": []}, "input is empty"),
        ({"input": ["a", ""]}, "1 input(s) are empty (index 1)"),
        ({"input": ["a", 3]}, "every input must be a string; index 1 is not"),
        ({"input": "a", "options": ["temperature"]}, "options must be a dict"),
    ],
)
def test_template_fields_are_checked_once_rendered_before_any_server_starts(
    arguments: dict[str, Any], message: str
):
    operator = OllamaEmbedOperator(
        task_id="embed", model="nomic-embed-text", server=LocalServer(binary="/nowhere/ollama"), **arguments
    )
    with pytest.raises((ValueError, TypeError), match=r"^embed: ") as failure:
        operator.execute({})
    assert message in str(failure.value)
