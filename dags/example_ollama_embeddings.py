"""Embeddings: embed passages and a question, then rank the passages by similarity to it.

Needs the ``ollama_default`` connection and an embedding model (pulled on first use). Vectors come back
L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.operators.embed import OllamaEmbedOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    params={
        "embedding_model": Param("nomic-embed-text", type="string"),
        "question": Param("How do plants make food?", type="string"),
    },
)
def example_ollama_embeddings() -> None:
    @task
    def load_passages() -> list[str]:
        """In a real DAG: chunks of documents."""
        return [
            "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
            "The stock market closed higher on Friday.",
            "Chlorophyll absorbs mostly blue and red light.",
            "A sonnet has fourteen lines.",
            "Roots take up water and minerals from the soil.",
        ]

    passages = load_passages()
    passage_vectors = OllamaEmbedOperator(
        task_id="embed_passages",
        model="{{ params.embedding_model }}",
        input=passages,
        batch_size=32,  # texts per request; several requests run at once
    )
    question_vector = OllamaEmbedOperator(
        task_id="embed_question",
        model="{{ params.embedding_model }}",
        input="{{ params.question }}",  # one text: XCom holds one record, not a list
    )

    @task
    def rank(
        passages: list[str], passage_records: list[dict[str, Any]], question_record: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The three passages closest to the question, best first."""
        question = question_record["embedding"]
        scored = [
            {
                "passage": passages[record["index"]],
                "score": round(sum(a * b for a, b in zip(record["embedding"], question, strict=True)), 4),
            }
            for record in passage_records
        ]
        return sorted(scored, key=lambda item: item["score"], reverse=True)[:3]

    rank(passages, passage_vectors.output, question_vector.output)


example_ollama_embeddings()
