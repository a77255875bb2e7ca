"""OllamaChatOperator: conversations in dag.test() on shared and per-task servers, and its argument checks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_ollama.operators.chat import OllamaChatOperator
from airflow_provider_ollama.server.settings import LocalServer
from tests.dags.ollama_batch_operators_dag import SEEDED_JSON
from tests.operators.batch_reference import Reference
from tests.operators.batch_runs import BatchRun, records_without_timings

# The session's batch DAG runs (tests/operators/conftest.py) happen once per worker: keep their readers on one.
pytestmark = pytest.mark.xdist_group(name="ollama_batch_operator_runs")


@pytest.mark.airflow
def test_one_conversation_returns_the_assistants_reply(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    record = shared_batch_run.result.xcoms["chat_one"]
    expected = batch_reference.chat([{"role": "user", "content": "Hello, Ada!"}])
    assert record["index"] == 0
    assert record["response"] == expected.message.content
    assert (record["eval_count"], record["done_reason"]) == (12, "length")


@pytest.mark.airflow
def test_conversations_are_answered_in_order_each_with_its_own_system_message(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    conversations = [
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
        [
            {"role": "system", "content": "You are a poet."},
            {"role": "user", "content": "Why is the sea salty?"},
        ],
        [{"role": "user", "content": "Name a colour."}],
    ]
    replies = [batch_reference.chat(c, format="json", options=SEEDED_JSON) for c in conversations]
    expected = [
        {**reply.model_dump(), "index": index, "response": json.loads(reply.message.content or "")}
        for index, reply in enumerate(replies)
    ]
    records = shared_batch_run.result.xcoms["chat_many"]
    assert all(isinstance(record["response"], dict) for record in records)  # format="json": parsed
    assert records_without_timings(records) == records_without_timings(expected)


@pytest.mark.airflow
def test_a_conversation_on_a_per_task_server(local_batch_run: BatchRun, batch_reference: Reference):
    record = local_batch_run.result.xcoms["chat_local"]
    assert (
        record["response"]
        == batch_reference.chat([{"role": "user", "content": "Hello there."}]).message.content
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"messages": [{"role": "user", "content": "a"}], "conversations": []}, "not both"),
        ({}, "nothing to answer: give messages (one conversation) or conversations (a list)"),
        ({"messages": [{"role": "user", "content": "a"}], "format": {"type": 3}}, "not a valid JSON Schema"),
        ({"messages": [{"role": "user", "content": "a"}], "tools": "search"}, "tools must be a list"),
    ],
)
def test_bad_arguments_that_are_not_templates_fail_when_the_dag_is_parsed(
    arguments: dict[str, Any], message: str
):
    with pytest.raises((ValueError, TypeError), match=r"^chat: ") as failure:
        OllamaChatOperator(task_id="chat", model="llama3.2:1b", **arguments)
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"conversations": []}, "messages is empty"),
        (
            {"conversations": [{"role": "user", "content": "a"}]},
            "conversation 0 must be a list of message dicts",
        ),
        ({"messages": [{"content": "no role"}]}, "conversation 0, message 0 must be a dict with a 'role'"),
        ({"conversations": "[[{'role': 'user'}]]"}, "conversations rendered to a string"),
        ({"messages": [{"role": "user", "content": "a"}], "options": {"seed": "x"}}, "option 'seed'"),
    ],
)
def test_template_fields_are_checked_once_rendered_before_any_server_starts(
    arguments: dict[str, Any], message: str
):
    operator = OllamaChatOperator(
        task_id="chat", model="tiny", server=LocalServer(binary="/nowhere/ollama"), **arguments
    )
    started = time.monotonic()
    with pytest.raises((ValueError, TypeError), match=r"^chat: ") as failure:
        operator.execute({})
    assert message in str(failure.value)
    assert time.monotonic() - started < 1
