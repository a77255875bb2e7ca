"""Test DAGs for the generate, chat and embed operators: shared server, per-task servers, collected errors.

Model names, output locations and flags come from the run's conf (params), so the tests can point the
DAGs at a registry emulator; ``render_template_as_native_obj`` keeps templated lists and booleans typed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_ollama.operators.chat import OllamaChatOperator
from airflow_provider_ollama.operators.embed import OllamaEmbedOperator
from airflow_provider_ollama.operators.generate import OllamaGenerateOperator
from airflow_provider_ollama.server.settings import LocalServer

START = pendulum.datetime(2025, 1, 1, tz="UTC")
SEEDED = {"seed": 7, "num_predict": 12}
# JSON output needs room to finish: a cut-off object is a failed item, as with a real server.
SEEDED_JSON = {"seed": 7}
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["label", "score"],
}
PARAMS: dict[str, Any] = {
    "model": "",
    "embed_model": "",
    "output_uri": "",
    "name": "",
    "prompts": [],
}


@dag(schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True, params=PARAMS)
def ollama_batch_shared() -> None:
    @task
    def upstream_prompts() -> list[str]:
        # The last one looks like Jinja: values from XCom are data, never rendered again.
        return [f"Describe item {index}." for index in range(5)] + ["Keep {{ this }} literal."]

    OllamaGenerateOperator(
        task_id="generate_one",
        model="{{ params.model }}",
        prompt="Greet {{ params.name }}.",
        options=SEEDED,
    )
    OllamaGenerateOperator(
        task_id="generate_many",
        model="{{ params.model }}",
        prompts=upstream_prompts(),
        system="Answer briefly.",
        options=SEEDED,
        max_concurrency=3,
    )
    OllamaGenerateOperator(
        task_id="generate_templated_list",
        model="{{ params.model }}",
        prompts="{{ params.prompts }}",
        options=SEEDED,
    )
    OllamaGenerateOperator(
        task_id="generate_schema",
        model="{{ params.model }}",
        prompts=["Rate apples.", "Rate pears.", "Rate plums."],
        format=VERDICT_SCHEMA,
        options=SEEDED_JSON,
    )
    OllamaGenerateOperator(
        task_id="generate_to_file",
        model="{{ params.model }}",
        prompts=[f"Summarise chapter {index}." for index in range(7)],
        options=SEEDED,
        output_uri="{{ params.output_uri }}",
    )
    OllamaChatOperator(
        task_id="chat_one",
        model="{{ params.model }}",
        messages=[{"role": "user", "content": "Hello, {{ params.name }}!"}],
        options=SEEDED,
    )
    OllamaChatOperator(
        task_id="chat_many",
        model="{{ params.model }}",
        conversations=[
            [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Why is the sky blue?"},
            ],
            [
                {"role": "system", "content": "You are a poet."},
                {"role": "user", "content": "Why is the sea salty?"},
            ],
            [{"role": "user", "content": "Name a colour."}],
        ],
        format="json",
        options=SEEDED_JSON,
    )
    OllamaEmbedOperator(
        task_id="embed_one",
        model="{{ params.embed_model }}",
        input="A single sentence.",
    )
    OllamaEmbedOperator(
        task_id="embed_many",
        model="{{ params.embed_model }}",
        input=[f"Passage number {index}." for index in range(5)],
        batch_size=2,
    )


@dag(schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True, params=PARAMS)
def ollama_batch_local() -> None:
    """Each task starts its own server (the binary comes from $OLLAMA_BINARY) and pulls its model."""
    OllamaGenerateOperator(
        task_id="generate_local",
        server=LocalServer(num_parallel=2),
        model="{{ params.model }}",
        prompts=["First question.", "Second question.", "Third question."],
        options=SEEDED,
    )
    OllamaChatOperator(
        task_id="chat_local",
        server="local",
        model="{{ params.model }}",
        messages=[{"role": "user", "content": "Hello there."}],
        options=SEEDED,
    )
    OllamaEmbedOperator(
        task_id="embed_local",
        server="local",
        model="{{ params.embed_model }}",
        input=["one", "two", "three"],
    )


@dag(schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True, params=PARAMS)
def ollama_batch_collect() -> None:
    """The emulator fails two requests (the test arms it); no request is retried, so two items fail."""
    OllamaGenerateOperator(
        task_id="generate_collect",
        model="{{ params.model }}",
        prompts=[f"Item {index}." for index in range(6)],
        options=SEEDED,
        on_error="collect",
        request_retries=0,
        max_concurrency=1,
    )


@dag(schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True, params=PARAMS)
def ollama_batch_resume() -> None:
    """A batch whose first try loses its server midway; the retry resumes from the output."""
    OllamaGenerateOperator(
        task_id="generate_resumable",
        model="{{ params.model }}",
        prompts=[f"Resumable item {index}." for index in range(40)],
        options=SEEDED,
        output_uri="{{ params.output_uri }}",
        max_concurrency=4,
        request_retries=1,
        timeout=60,
        retries=1,
        retry_delay=timedelta(0),
    )


ollama_batch_shared()
ollama_batch_local()
ollama_batch_collect()
ollama_batch_resume()
