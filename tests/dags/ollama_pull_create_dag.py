"""Test DAGs for the pull and create operators: one on the shared server, one with per-task servers.

The model name comes from the run's conf (a registry emulator's address), the Modelfile files from the
folder named by ``OLLAMA_TEST_MODELFILE_DIR`` (the test writes them, with a GGUF file, into a temp dir).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import chain, dag

from airflow_provider_ollama.operators.create import OllamaCreateOperator
from airflow_provider_ollama.operators.pull import OllamaPullOperator

START = pendulum.datetime(2025, 1, 1, tz="UTC")
MODELFILE_DIR = os.environ.get("OLLAMA_TEST_MODELFILE_DIR", "/nonexistent-modelfile-dir")
PARAMS: dict[str, Any] = {"model": "", "system_prompt": "", "temperature": 0.5}
TEXT_MODELFILE = "FROM {{ params.model }}\nSYSTEM You answer in one word.\nPARAMETER temperature 0\n"


@dag(schedule=None, start_date=START, catchup=False, params=PARAMS, template_searchpath=[MODELFILE_DIR])
def ollama_pull_create_shared() -> None:
    pull = OllamaPullOperator(task_id="pull", model="{{ params.model }}")
    pull_deferred = OllamaPullOperator(task_id="pull_deferred", model=["{{ params.model }}"], deferrable=True)
    create_text = OllamaCreateOperator(task_id="create_text", model="terse:latest", modelfile=TEXT_MODELFILE)
    create_text_again = OllamaCreateOperator(
        task_id="create_text_again", model="terse:latest", modelfile=TEXT_MODELFILE
    )
    create_file = OllamaCreateOperator(
        task_id="create_file", model="pirate:latest", modelfile="pirate.modelfile"
    )
    create_structured = OllamaCreateOperator(
        task_id="create_structured",
        model="structured:latest",
        from_model="{{ params.model }}",
        system="{{ params.system_prompt }}",
        # A Go template: not a templated field, so Jinja never sees it.
        template="{{ .System }} | {{ .Prompt }}",
        parameters={"temperature": "{{ params.temperature }}", "stop": ["<|end|>", "<|user|>"]},
        messages=[{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "A pirate."}],
    )
    create_gguf = OllamaCreateOperator(
        task_id="create_gguf", model="local-weights:latest", modelfile="weights.modelfile"
    )
    create_gguf_again = OllamaCreateOperator(
        task_id="create_gguf_again", model="local-weights:latest", modelfile="weights.modelfile"
    )
    chain(
        pull,
        pull_deferred,
        create_text,
        create_text_again,
        create_file,
        create_structured,
        create_gguf,
        create_gguf_again,
    )


@dag(schedule=None, start_date=START, catchup=False, params=PARAMS, template_searchpath=[MODELFILE_DIR])
def ollama_pull_create_local() -> None:
    pull = OllamaPullOperator(task_id="pull", server="local", model="{{ params.model }}")
    # The per-task server starts empty: the base model FROM names is pulled into it first.
    create_file = OllamaCreateOperator(
        task_id="create_file",
        server="local",
        model="pirate:latest",
        modelfile="pirate.modelfile",
    )
    create_gguf = OllamaCreateOperator(
        task_id="create_gguf", server="local", model="local-weights:latest", modelfile="weights.modelfile"
    )
    chain(pull, create_file, create_gguf)


ollama_pull_create_shared()
ollama_pull_create_local()
