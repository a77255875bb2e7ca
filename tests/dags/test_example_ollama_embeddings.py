"""The embeddings example ranks passages by the similarity of their vectors to the question's."""

from __future__ import annotations

import json

import pytest

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.operators.batch_reference import Reference, batch_reference
from tests.support.dag_runs import REPO_ROOT, run_dag

__all__ = ["batch_reference"]

pytestmark = pytest.mark.airflow


def test_example_embeddings_dag_ranks_passages_by_similarity_to_the_question(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory, batch_reference: Reference
) -> None:
    emulator = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )
    question = "Why is the sky blue?"

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_embeddings.py",
        "example_ollama_embeddings",
        conf={
            "embedding_model": batch_reference.embed_model,
            "question": question,
        },
    )

    result.assert_success()
    passages = result.xcoms["load_passages"]
    vectors = batch_reference.embed(passages)
    (question_vector,) = batch_reference.embed([question])
    scores = {
        p: round(sum(a * b for a, b in zip(v, question_vector, strict=True)), 4)
        for p, v in zip(passages, vectors, strict=True)
    }
    best_three = sorted(scores, key=scores.__getitem__, reverse=True)[:3]
    ranked = result.xcoms["rank"]
    assert [item["passage"] for item in ranked] == best_three
    assert [item["score"] for item in ranked] == pytest.approx([scores[p] for p in best_three], abs=1e-3)
    assert emulator.stats.requests_to("POST", "/api/embed") == 2  # 5 passages in one request, the question
