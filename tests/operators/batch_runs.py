"""Helpers for the batch operators' DAG runs: the run record, the server binary, leftover-process checks.

The session fixtures in conftest.py use them; tests import them to compare records with reference answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import BINARY_VARIABLE, emulator_script
from tests.support.dag_runs import REPO_ROOT, DagRunResult

BATCH_DAGS = REPO_ROOT / "tests" / "dags" / "ollama_batch_operators_dag.py"


@dataclass
class BatchRun:
    """One run of a test DAG: its result, and the server the shared-mode tasks talked to."""

    result: DagRunResult
    emulator: OllamaEmulator | None
    output_dir: Path
    #: ``ollama serve`` processes (the emulator as binary) still alive after the run.
    leftover_servers: list[str]


def emulator_binary() -> Path:
    """What the ``ollama_binary`` fixture gives, for session-scoped runs."""
    configured = os.environ.get(BINARY_VARIABLE, "").strip()
    binary = Path(configured) if configured else emulator_script()
    if not binary.is_file():
        pytest.fail(
            f"no ollama-compatible binary at {binary}: run `pip install -e .` or set {BINARY_VARIABLE}"
        )
    return binary


def ollama_serve_children() -> list[str]:
    """Command lines of this process's live children that run ``serve`` (per-task servers left behind)."""
    me = str(os.getpid())
    found = []
    for status_file in Path("/proc").glob("[0-9]*/status"):
        try:
            status = dict(
                line.split(":\t", 1) for line in status_file.read_text().splitlines() if ":\t" in line
            )
            command = (status_file.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        alive = not status.get("State", "").startswith(("Z", "X"))
        if status.get("PPid", "").strip() == me and alive and b"serve" in command:
            found.append(b" ".join(command).decode(errors="replace"))
    return found


def records_without_timings(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a generation record's content depends on: index, answer, token counts, done_reason."""
    return [
        (r["index"], r["response"], r["eval_count"], r["prompt_eval_count"], r["done_reason"])
        for r in records
    ]
