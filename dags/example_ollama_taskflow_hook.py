"""OllamaHook from plain TaskFlow tasks: make sure the models are there, then generate, chat and embed.

Needs one Airflow connection, ``ollama_default`` (type Ollama, host ``http://ollama:11434``). Every
task returns small JSON values, so the results travel through XCom and show in the UI.
"""

from __future__ import annotations

import math

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_ollama.hooks.ollama import OllamaHook

# Which connection the tasks use; change it here or give each hook its own.
OLLAMA_CONN_ID = "ollama_default"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ollama", "example"],
    params={
        "model": Param("llama3.2:1b", type="string", description="Model that writes and answers."),
        "embedding_model": Param("nomic-embed-text", type="string", description="Model for embeddings."),
        "topic": Param("why the sky is blue", type="string"),
    },
)
def example_ollama_taskflow_hook() -> None:
    @task
    def ensure_models(models: list[str]) -> dict[str, str]:
        """Pull what the server lacks; return each model's digest (what exactly later tasks ran on)."""
        hook = OllamaHook(OLLAMA_CONN_ID)
        digests = {}
        for model in models:
            if not hook.has_model(model):
                hook.pull(model)  # progress goes to the task log
            digests[model] = hook.model_digest(model)
        return digests

    @task
    def write_summary(model: str, topic: str) -> str:
        """One completion: ``generate`` returns the whole answer once the model has finished."""
        response = OllamaHook(OLLAMA_CONN_ID).generate(
            model,
            f"In two sentences, explain {topic}.",
            options={"temperature": 0.2, "num_predict": 96},
        )
        return response.response or ""

    @task
    def review_summary(model: str, summary: str) -> str:
        """A conversation: ``chat`` takes the messages so far and returns the assistant's reply."""
        response = OllamaHook(OLLAMA_CONN_ID).chat(
            model,
            [
                {"role": "system", "content": "You are a strict science editor. Answer in one sentence."},
                {"role": "user", "content": f"Is this explanation correct?\n\n{summary}"},
            ],
            options={"num_predict": 64},
        )
        return response.message.content or ""

    @task
    def compare(embedding_model: str, summary: str, review: str) -> float:
        """Embeddings: how close the review stays to the summary (cosine similarity, -1 to 1)."""
        vectors = OllamaHook(OLLAMA_CONN_ID).embed(embedding_model, [summary, review]).embeddings
        dot = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
        norms = math.sqrt(sum(a * a for a in vectors[0])) * math.sqrt(sum(b * b for b in vectors[1]))
        return round(dot / norms, 4)

    # Templated arguments are rendered from the run's params before each task starts.
    models_ready = ensure_models(models=["{{ params.model }}", "{{ params.embedding_model }}"])
    summary = write_summary(model="{{ params.model }}", topic="{{ params.topic }}")
    review = review_summary(model="{{ params.model }}", summary=summary)
    models_ready >> summary
    compare(embedding_model="{{ params.embedding_model }}", summary=summary, review=review)


example_ollama_taskflow_hook()
