"""The mapped batch example: three mapped tasks, each on its own per-task server, every prompt answered once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.operators.batch_reference import Reference, batch_reference
from tests.operators.batch_runs import emulator_binary, ollama_serve_children, records_without_timings
from tests.support.dag_runs import REPO_ROOT, run_dag

__all__ = ["batch_reference"]

pytestmark = pytest.mark.airflow


def test_example_mapped_batch_answers_every_prompt_once_in_order_per_chunk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, batch_reference: Reference
) -> None:
    monkeypatch.setenv("OLLAMA_BINARY", str(emulator_binary()))
    # No task may use a shared server: nothing listens at the default connection.
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": "http://127.0.0.1:9"})
    )

    result = run_dag(
        REPO_ROOT / "dags" / "example_ollama_mapped_batch.py",
        "example_ollama_mapped_batch",
        conf={
            "model": batch_reference.model,
            "documents": 10,
            "chunks": 3,
            "output_base_uri": f"file://{tmp_path}",
        },
    )

    result.assert_success()
    chunks = result.xcoms["split_into_chunks"]
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    summaries = result.xcoms["generate_chunk"]  # ordered by map index
    assert len(summaries) == 3
    for chunk, summary in zip(chunks, summaries, strict=True):
        assert (summary["items"], summary["succeeded"], summary["failed"]) == (len(chunk), len(chunk), 0)
        lines = Path(summary["uri"].removeprefix("file://")).read_text().splitlines()
        records = [json.loads(line) for line in lines]
        options = {"temperature": 0, "num_predict": 32}
        expected = [
            {"index": index, **batch_reference.generate(prompt, options=options).model_dump()}
            for index, prompt in enumerate(chunk)
        ]
        assert records_without_timings(records) == records_without_timings(expected)
    assert result.xcoms["report"]["items"] == 10
    assert ollama_serve_children() == []
