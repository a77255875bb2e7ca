"""ModelfileError lists every problem in line order, reads well in a log, and survives pickling."""

from __future__ import annotations

import pickle

from airflow_provider_ollama.modelfile import ModelfileError, ModelfileProblem


def test_problems_are_sorted_by_line_with_file_wide_ones_first() -> None:
    error = ModelfileError(
        [
            ModelfileProblem(3, "c", "fix c"),
            ModelfileProblem(None, "no FROM line", "add FROM"),
            ModelfileProblem(1, "a", "fix a"),
        ]
    )
    assert [p.line for p in error.problems] == [None, 1, 3]
    assert str(error) == (
        "<Modelfile>: 3 problems\n  no FROM line (fix: add FROM)\n  line 1: a (fix: fix a)\n  line 3: c (fix: fix c)"
    )


def test_error_survives_pickling_as_airflow_does_with_task_errors() -> None:
    error = ModelfileError([ModelfileProblem(2, "bad", "fix it")], source="dags/Modelfile")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, made one line above
    assert copy.problems == error.problems
    assert str(copy) == "dags/Modelfile: line 2: bad (fix: fix it)"
