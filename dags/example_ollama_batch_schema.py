"""Triage support tickets in one batch: every answer follows a JSON schema, parsed and checked.

Needs one Airflow connection, ``ollama_default`` (type Ollama, host ``http://ollama:11434``). The model
is pulled on first use. Each ticket's result is a dict, so the downstream task reads fields, not text.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.operators.generate import OllamaGenerateOperator

#: What every answer must look like; an answer that does not fit fails its item (or the task).
TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "feature", "other"]},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string"},
    },
    "required": ["category", "urgent", "summary"],
}


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    # Keeps templated values typed: the boolean below stays a boolean.
    render_template_as_native_obj=True,
    params={
        "model": Param("llama3.2:1b", type="string", description="Model that reads the tickets."),
        # Only for registries served over plain http, such as a test registry.
        "insecure_registry": Param(False, type="boolean"),
    },
)
def example_ollama_batch_schema() -> None:
    @task
    def load_tickets() -> list[str]:
        """In a real DAG: a query or a file. Each string becomes one prompt."""
        tickets = [
            "I was charged twice for my March invoice.",
            "The export button crashes the app on Android.",
            "Could you add a dark mode?",
            "Our whole team is locked out since this morning!",
            "How do I change the email on my account?",
        ]
        return [f"Triage this support ticket:\n\n{ticket}" for ticket in tickets]

    classify = OllamaGenerateOperator(
        task_id="classify_tickets",
        model="{{ params.model }}",
        prompts=load_tickets(),
        system="You triage support tickets. Reply with JSON only.",
        format=TICKET_SCHEMA,
        options={"temperature": 0},
        max_concurrency=8,  # match the server's OLLAMA_NUM_PARALLEL
        insecure="{{ params.insecure_registry }}",
    )

    @task
    def count_by_category(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Results come back in ticket order, each with the parsed JSON under "response"."""
        answers = [result["response"] for result in results]
        return {
            "by_category": dict(Counter(answer["category"] for answer in answers)),
            "urgent": [index for index, answer in enumerate(answers) if answer["urgent"]],
        }

    count_by_category(classify.output)


example_ollama_batch_schema()
