"""The flagship pipeline: triage support tickets with a custom model built from a Modelfile, on a shared Ollama.

    wait_for_ollama -> pull_base_model -> create_triage_model -> triage_tickets -> route_tickets
                                                    load_tickets ---^

1. ``wait_for_ollama`` waits until the shared server answers. It is deferrable: while a GPU box boots,
   the wait runs in Airflow's triggerer and holds no worker slot.
2. ``pull_base_model`` pulls the base model (only changed layers are downloaded; a model that is up to
   date costs one request). Also deferrable: the triggerer follows the download.
3. ``create_triage_model`` builds a custom model from ``modelfiles/ticket_triage.modelfile``, a file next
   to this one that Airflow renders with Jinja (the params below fill it in).
4. ``triage_tickets`` sends every ticket to the custom model at once (a bounded number in flight) and
   asks for JSON that follows ``TICKET_SCHEMA``; each answer is parsed and validated against it.
5. ``route_tickets`` is plain Python: it reads the structured results from XCom, no text parsing.

Needs one Airflow connection, ``ollama_default`` (type Ollama, host ``http://ollama:11434`` or wherever your
server runs). The defaults pull ``llama3.2:1b`` (1.3 GB) from Ollama's registry.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.operators.create import CreateResult, OllamaCreateOperator
from airflow_provider_ollama.operators.generate import OllamaGenerateOperator
from airflow_provider_ollama.operators.pull import OllamaPullOperator
from airflow_provider_ollama.sensors.ollama import OllamaServerSensor

#: The shape every answer must have. Ollama constrains the model's output to it, and the operator
#: validates each parsed answer again (a cut-off answer fails its item instead of reaching you broken).
#: maxLength bounds the summary in the grammar itself: a small model that starts rambling inside the
#: string is made to close it, instead of running on until Ollama gives up on the answer.
TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "feature", "account", "other"]},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string", "maxLength": 80},
    },
    "required": ["category", "urgent", "summary"],
}


@dag(
    description="Wait for Ollama, pull, build a custom model from a Modelfile, triage tickets as JSON",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    params={
        "base_model": Param("llama3.2:1b", type="string", description="Model the triage model is built on."),
        "triage_model": Param(
            "ticket-triage:latest", type="string", description="Name of the model to create."
        ),
        "product": Param("Acme Cloud", type="string", description="Whose tickets these are (in the prompt)."),
        "context_length": Param(4096, type="integer", minimum=512),
    },
)
def example_ollama_pipeline() -> None:
    wait_for_ollama = OllamaServerSensor(
        task_id="wait_for_ollama",
        ollama_conn_id="ollama_default",
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poke_interval=5,  # seconds between checks (one cheap GET each)
        timeout=timedelta(minutes=15),  # then fail with an error naming the server's URL
    )

    pull_base_model = OllamaPullOperator(
        task_id="pull_base_model",
        model="{{ params.base_model }}",
        deferrable=True,  # the triggerer follows the download; the worker slot is free meanwhile
        stall_timeout=120,  # a download that stops moving for two minutes is cancelled and resumed
        # Airflow 3.3 can fail a deferred task whose trigger fires within seconds, as it does for a model
        # already up to date (a stale executor event; apache/airflow#72716). A pull is idempotent: retry.
        retries=2,
        retry_delay=timedelta(seconds=5),
    )

    # A modelfile value ending in .modelfile is a file, found next to this DAG and rendered by Jinja.
    create_triage_model = OllamaCreateOperator(
        task_id="create_triage_model",
        model="{{ params.triage_model }}",
        modelfile="modelfiles/ticket_triage.modelfile",
    )

    @task
    def load_tickets() -> list[str]:
        """In a real DAG: a query against the ticket system. Each string becomes one prompt."""
        tickets = [
            "I was charged twice for my March invoice.",
            "The export button crashes the app on Android.",
            "Could you add a dark mode to the dashboard?",
            "Our whole team is locked out since this morning!",
            "How do I change the email address on my account?",
        ]
        return [f"Ticket: {ticket}" for ticket in tickets]

    tickets = load_tickets()

    triage_tickets = OllamaGenerateOperator(
        task_id="triage_tickets",
        model="{{ params.triage_model }}",  # the model created above: its SYSTEM prompt does the framing
        prompts=tickets,  # a list from an upstream task: one request per item, results in the same order
        format=TICKET_SCHEMA,  # every response arrives parsed, as a dict that fits the schema
        max_concurrency=6,  # requests in flight: the server's OLLAMA_NUM_PARALLEL plus a couple
    )

    @task
    def route_tickets(
        tickets: list[str], results: list[dict[str, Any]], triage_model: CreateResult
    ) -> dict[str, Any]:
        """Consume the structured answers: count them per category and pick out the urgent tickets."""
        answers = [result["response"] for result in results]  # one dict per ticket, in ticket order
        return {
            "model": triage_model["model"],
            "model_digest": triage_model["digest"],  # exactly which build answered
            "by_category": dict(Counter(answer["category"] for answer in answers)),
            "urgent": [
                ticket.removeprefix("Ticket: ")
                for ticket, answer in zip(tickets, answers, strict=True)
                if answer["urgent"]
            ],
            "generated_tokens": sum(result["eval_count"] or 0 for result in results),
        }

    wait_for_ollama >> pull_base_model >> create_triage_model >> triage_tickets
    route_tickets(tickets, triage_tickets.output, create_triage_model.output)


example_ollama_pipeline()
