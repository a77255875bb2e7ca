"""A big batch spread over many workers: one mapped task per chunk, each with its own ``ollama serve``.

Each mapped instance starts a per-task server (the worker needs the ``ollama`` binary and, for speed,
a GPU), pulls the model, generates its chunk with bounded concurrency, writes the results as JSONL to
object storage and stops the server. A retried instance resumes from what it already wrote.
"""

from __future__ import annotations

import math
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.operators.generate import OllamaGenerateOperator
from airflow_provider_ollama.server import LocalServer


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    render_template_as_native_obj=True,
    params={
        "model": Param("llama3.2:1b", type="string"),
        "documents": Param(60, type="integer", minimum=1, description="How many prompts to make."),
        "chunks": Param(3, type="integer", minimum=1, description="Mapped tasks (and servers) to use."),
        # Any ObjectStoragePath location: s3://bucket/prefix (with an aws connection), gs://..., file:///...
        "output_base_uri": Param("file:///tmp/ollama-batches", type="string"),
    },
)
def example_ollama_mapped_batch() -> None:
    @task
    def make_prompts(documents: int) -> list[str]:
        """In a real DAG: read the documents to process."""
        return [f"Write a one-line title for document number {index}." for index in range(documents)]

    @task
    def split_into_chunks(prompts: list[str], chunks: int) -> list[list[str]]:
        """One list per mapped task; order is kept inside each chunk and across chunks."""
        size = math.ceil(len(prompts) / chunks)
        return [prompts[start : start + size] for start in range(0, len(prompts), size)]

    chunks = split_into_chunks(make_prompts("{{ params.documents }}"), "{{ params.chunks }}")

    titles = OllamaGenerateOperator.partial(
        task_id="generate_chunk",
        # Every mapped instance starts (and stops) its own ollama serve, serving 4 requests at once
        # (OLLAMA_NUM_PARALLEL); the requests in flight follow it.
        server=LocalServer(num_parallel=4),
        model="{{ params.model }}",
        options={"temperature": 0, "num_predict": 32},
        # One location per chunk: a retry of chunk 2 resumes there, and chunks never collide.
        output_uri="{{ params.output_base_uri }}/{{ run_id }}/chunk-{{ ti.map_index }}",
    ).expand(prompts=chunks)

    @task
    def report(summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """Each chunk returns a small summary; the results themselves are in its results.jsonl."""
        return {
            "items": sum(summary["items"] for summary in summaries),
            "failed": sum(summary["failed"] for summary in summaries),
            "eval_tokens": sum(summary["eval_count"] for summary in summaries),
            "results": [summary["uri"] for summary in summaries],
        }

    report(titles.output)


example_ollama_mapped_batch()
