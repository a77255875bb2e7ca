"""OllamaCreateOperator: text, file (Jinja + Go templates), structured, local GGUF, unchanged, and fast failures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jinja2
import ollama
import pytest
from airflow.sdk import DAG

from airflow_provider_ollama.exceptions import OllamaCreateError
from airflow_provider_ollama.operators._modelfile_jinja import protect_go_templates
from airflow_provider_ollama.operators.create import OllamaCreateOperator, names_modelfile_file
from airflow_provider_ollama.server import LocalServer
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.operators.pull_create_runs import (
    DAG_FILE,
    GO_TEMPLATE,
    SYSTEM_PROMPT,
    SharedRun,
    on_shared_run,
    run_conf,
    shared_run,
    write_modelfiles,
)
from tests.support.dag_runs import run_dag

__all__ = ["shared_run"]  # the session fixture, imported so that pytest finds it here

# A per-task server that cannot start: an argument check that ran late would fail with another error.
NO_SERVER = LocalServer(binary="/nowhere/ollama")


def _use_emulator(monkeypatch: pytest.MonkeyPatch, emulator: OllamaEmulator) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )


def _show(emulator: OllamaEmulator, model: str) -> dict[str, Any]:
    """``/api/show`` as JSON (the client's ShowResponse has no ``system`` field)."""
    response = httpx.post(f"{emulator.url}/api/show", json={"model": model}, timeout=10)
    response.raise_for_status()
    shown: dict[str, Any] = response.json()
    return shown


# --- one real DAG run on the shared server ---------------------------------------------------------


@pytest.mark.airflow
@on_shared_run
def test_shared_dag_run_succeeds(shared_run: SharedRun) -> None:
    shared_run.result.assert_success()


@pytest.mark.airflow
@on_shared_run
def test_create_from_text_reports_created_with_the_model_digest(shared_run: SharedRun) -> None:
    created = shared_run.result.xcoms["create_text"]
    listed = {m.model: m.digest for m in ollama.Client(host=shared_run.emulator.url).list().models}
    assert created == {
        "model": "terse:latest",
        "digest": f"sha256:{listed['terse:latest']}",
        "status": "created",
    }
    assert _show(shared_run.emulator, "terse:latest")["system"] == "You answer in one word."


@pytest.mark.airflow
@on_shared_run
def test_identical_create_again_reports_unchanged_with_the_same_digest(shared_run: SharedRun) -> None:
    first, again = shared_run.result.xcoms["create_text"], shared_run.result.xcoms["create_text_again"]
    assert again == {**first, "status": "unchanged"}


@pytest.mark.airflow
@on_shared_run
def test_modelfile_file_gets_jinja_in_system_and_keeps_go_template_verbatim(shared_run: SharedRun) -> None:
    assert shared_run.result.xcoms["create_file"]["status"] == "created"
    shown = _show(shared_run.emulator, "pirate:latest")
    assert shown["system"] == SYSTEM_PROMPT
    assert shown["template"] == GO_TEMPLATE
    assert "temperature                    0.3" in shown["parameters"]


@pytest.mark.airflow
@on_shared_run
def test_structured_arguments_render_templates_but_not_the_go_template(shared_run: SharedRun) -> None:
    assert shared_run.result.xcoms["create_structured"]["status"] == "created"
    shown = _show(shared_run.emulator, "structured:latest")
    assert shown["system"] == SYSTEM_PROMPT
    assert shown["template"] == "{{ .System }} | {{ .Prompt }}"
    assert '"<|end|>"' in shown["parameters"]
    assert '"<|user|>"' in shown["parameters"]
    assert [(m["role"], m["content"]) for m in shown["messages"]] == [
        ("user", "Who are you?"),
        ("assistant", "A pirate."),
    ]


@pytest.mark.airflow
@on_shared_run
def test_local_gguf_is_uploaded_once_and_the_second_create_is_unchanged(shared_run: SharedRun) -> None:
    first, again = shared_run.result.xcoms["create_gguf"], shared_run.result.xcoms["create_gguf_again"]
    assert first["status"] == "created"
    assert again == {**first, "status": "unchanged"}
    # Only the GGUF file is a local blob in this DAG; the second create found it on the server.
    assert shared_run.emulator.stats.counter("blob_uploads") == 1
    assert shared_run.emulator.stats.requests_to("HEAD", "/api/blobs/x") == 2


# --- per-task servers ------------------------------------------------------------------------------


@pytest.mark.airflow
def test_per_task_servers_pull_the_base_then_create_from_file_and_gguf(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ollama_binary: Path,
    ollama_registry: RegistryEmulator,
) -> None:
    monkeypatch.setenv("OLLAMA_TEST_MODELFILE_DIR", str(write_modelfiles(tmp_path / "modelfiles")))
    monkeypatch.setenv("OLLAMA_BINARY", str(ollama_binary))

    result = run_dag(DAG_FILE, "ollama_pull_create_local", conf=run_conf(ollama_registry))

    result.assert_success()
    model = ollama_registry.model_name("tiny")
    assert result.xcoms["pull"] == {model: ollama_registry.catalogue.model("library/tiny").digest}  # type: ignore[union-attr]
    assert result.xcoms["create_file"]["model"] == "pirate:latest"
    assert result.xcoms["create_file"]["status"] == "created"
    assert result.xcoms["create_gguf"]["status"] == "created"
    assert result.xcoms["create_gguf"]["digest"].startswith("sha256:")


# --- fast failures, without a DAG run --------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"modelfile": "FROM x", "system": "hi"}, "not both (got modelfile and system)"),
        ({"system": "hi"}, "say what to build the model from"),
        ({}, "say what to build the model from"),
    ],
)
def test_arguments_missing_or_clashing_fail_when_the_dag_is_parsed(
    arguments: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match="create") as raised:
        OllamaCreateOperator(task_id="create", model="mine:latest", **arguments)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": "no good", "from_model": "tiny"}, "invalid model name 'no good'"),
        ({"model": "{{ params.model }}", "from_model": "tiny"}, "model is still a template"),
        ({"from_model": "bad base!"}, "invalid model name 'bad base!'"),
        ({"modelfile": "  "}, "modelfile must be Modelfile text"),
        ({"modelfile": "a.modelfile", "base_dir": "/tmp"}, "drop base_dir"),
        ({"from_model": "tiny", "adapters": "lora.gguf"}, "adapters must be a list"),
        ({"from_model": "tiny", "parameters": "{'temperature': 0}"}, "parameters rendered to str"),
        ({"from_model": "tiny", "messages": ["hi"]}, "messages must be a list of"),
    ],
)
def test_rendered_arguments_are_checked_before_any_server_starts(
    arguments: dict[str, Any], expected: str
) -> None:
    arguments = {"model": "mine:latest", **arguments}
    operator = OllamaCreateOperator(task_id="create", server=NO_SERVER, **arguments)  # stored as given
    with pytest.raises((ValueError, TypeError), match=r"^create: ") as raised:
        operator.execute({})
    assert expected in str(raised.value)


BAD_MODELFILE = """FROM tiny
PARAMETER temprature 0.7
PARAMETER num_ctx lots
FORM other
"""


def test_bad_modelfile_fails_at_once_listing_every_problem_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator: OllamaEmulator
) -> None:
    _use_emulator(monkeypatch, ollama_emulator)
    operator = OllamaCreateOperator(task_id="create", model="mine:latest", modelfile=BAD_MODELFILE)
    started = time.monotonic()

    with pytest.raises(OllamaCreateError) as raised:
        operator.execute({})

    assert time.monotonic() - started < 1.0
    message = str(raised.value)
    assert "nothing was sent to Ollama" in message
    assert "3 problems" in message
    for line in ("line 2:", "line 3:", "line 4:"):
        assert line in message
    assert raised.value.__cause__ is not None
    assert [problem.line for problem in raised.value.__cause__.problems] == [2, 3, 4]  # type: ignore[attr-defined]
    assert ollama_emulator.stats.snapshot()["requests_total"] == 0


def test_bad_structured_arguments_fail_at_once_without_a_request(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator: OllamaEmulator
) -> None:
    _use_emulator(monkeypatch, ollama_emulator)
    operator = OllamaCreateOperator(
        task_id="create", model="mine:latest", from_model="tiny", parameters={"temperature": "hot"}
    )
    with pytest.raises(OllamaCreateError, match="temperature"):
        operator.execute({})
    assert ollama_emulator.stats.snapshot()["requests_total"] == 0


def test_a_local_file_outside_the_modelfile_folder_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ollama_emulator: OllamaEmulator
) -> None:
    _use_emulator(monkeypatch, ollama_emulator)
    inside = write_modelfiles(tmp_path / "inside")
    operator = OllamaCreateOperator(
        task_id="create", model="mine:latest", modelfile="FROM ../outside.gguf\n", base_dir=str(inside)
    )
    (tmp_path / "outside.gguf").write_bytes((inside / "weights.gguf").read_bytes())
    with pytest.raises(OllamaCreateError, match="outside the Modelfile's directory"):
        operator.execute({})
    assert ollama_emulator.stats.snapshot()["requests_total"] == 0


def test_a_server_refusal_names_the_model_and_the_modelfile(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    ollama_registry: RegistryEmulator,
) -> None:
    emulator = ollama_emulator_factory()
    assert isinstance(emulator, OllamaEmulator)
    _use_emulator(monkeypatch, emulator)
    base = ollama_registry.model_name("tiny")
    operator = OllamaCreateOperator(
        task_id="create",
        model="broken:latest",
        # Parses as a Modelfile; only the server checks Go template syntax.
        modelfile=f'FROM {base}\nTEMPLATE """{{{{ if .System }}"""\n',
    )
    with pytest.raises(OllamaCreateError, match=r"refused to create 'broken:latest' from the modelfile text"):
        operator.execute({})


# --- the Modelfile file under Airflow's templating -------------------------------------------------

CONTEXT = {"params": {"model": "tiny", "system_prompt": SYSTEM_PROMPT, "temperature": 0.3}}
RENDERED_PIRATE = f'''# A Modelfile rendered by Airflow's Jinja: params in SYSTEM and PARAMETER, Go in TEMPLATE.
FROM tiny
SYSTEM """{SYSTEM_PROMPT}"""
PARAMETER temperature 0.3
TEMPLATE """{GO_TEMPLATE}"""'''


def _create_in_dag(folder: Path, modelfile: str) -> tuple[DAG, OllamaCreateOperator]:
    with DAG("modelfile_files", schedule=None, template_searchpath=[str(folder)]) as dag:
        operator = OllamaCreateOperator(task_id="create", model="pirate:latest", modelfile=modelfile)
    return dag, operator


def test_the_modelfile_file_is_read_when_the_dag_loads_with_template_values_protected(tmp_path: Path) -> None:
    folder = write_modelfiles(tmp_path)
    dag, operator = _create_in_dag(folder, "pirate.modelfile")

    dag.resolve_template_files()  # type: ignore[no-untyped-call]  # what loading the DAG file does

    assert operator.modelfile_path == folder / "pirate.modelfile"
    assert operator.modelfile is not None
    assert "{% raw %}{{- if .System }}" in operator.modelfile
    operator.render_template_fields(CONTEXT)  # type: ignore[arg-type]
    assert operator.modelfile == RENDERED_PIRATE


def test_a_modelfile_file_not_read_at_load_time_is_read_when_rendering(tmp_path: Path) -> None:
    # Mapped tasks are built again at run time, after the DAG's files were resolved.
    folder = write_modelfiles(tmp_path)
    _, operator = _create_in_dag(folder, "pirate.modelfile")

    operator.render_template_fields(CONTEXT)  # type: ignore[arg-type]

    assert operator.modelfile == RENDERED_PIRATE
    assert operator.modelfile_path == folder / "pirate.modelfile"


def test_a_missing_modelfile_file_fails_naming_the_search_path(tmp_path: Path) -> None:
    dag, operator = _create_in_dag(tmp_path, "missing.modelfile")
    dag.resolve_template_files()  # type: ignore[no-untyped-call]
    with pytest.raises(OllamaCreateError, match=r"'missing.modelfile' was not found \(searched: \["):
        operator.render_template_fields(CONTEXT)  # type: ignore[arg-type]


def test_relative_paths_start_at_the_modelfile_files_folder(tmp_path: Path) -> None:
    folder = write_modelfiles(tmp_path / "files")
    dag, operator = _create_in_dag(folder, "weights.modelfile")
    dag.resolve_template_files()  # type: ignore[no-untyped-call]
    operator.render_template_fields(CONTEXT)  # type: ignore[arg-type]
    assert operator.modelfile_spec().from_files == (folder / "weights.gguf",)


def test_a_dag_rendering_natively_still_gets_modelfile_text() -> None:
    with DAG("native", schedule=None, render_template_as_native_obj=True):
        operator = OllamaCreateOperator(
            task_id="create",
            model="m:latest",
            modelfile="FROM {{ params.model }}\nPARAMETER num_ctx {{ params.n }}\nTEMPLATE {{ .Prompt }}\n",
        )
    operator.render_template_fields({"params": {"model": "tiny", "n": 2048}})
    assert operator.modelfile == "FROM tiny\nPARAMETER num_ctx 2048\nTEMPLATE {{ .Prompt }}"


def test_other_text_ending_like_a_modelfile_name_is_rendered_as_text() -> None:
    operator = OllamaCreateOperator(
        task_id="create", model="m:latest", from_model="tiny", system="{{ params.who }} explains a Modelfile"
    )
    operator.render_template_fields({"params": {"who": "Ada"}})
    assert operator.system == "Ada explains a Modelfile"


# --- the template rule: Go templates in TEMPLATE stay away from Jinja -------------------------------


def _env(**jinja_environment_kwargs: Any) -> jinja2.Environment:
    """The Jinja environment Airflow builds for a DAG with these settings."""
    return DAG("jinja", schedule=None, jinja_environment_kwargs=jinja_environment_kwargs).get_template_env()


def test_protected_template_values_render_verbatim_while_system_is_rendered() -> None:
    text = 'FROM m\nSYSTEM """{{ persona }}"""\nTEMPLATE """{{ if .System }}{{ .System }}{{ end }}"""\n'
    env = _env()
    rendered = env.from_string(protect_go_templates(text, env)).render(persona="a pirate")
    assert rendered == 'FROM m\nSYSTEM """a pirate"""\nTEMPLATE """{{ if .System }}{{ .System }}{{ end }}"""'


def test_protecting_twice_changes_nothing_and_user_raw_blocks_are_kept() -> None:
    env = _env()
    once = protect_go_templates("FROM m\nTEMPLATE {{ .Prompt }}\n", env)
    assert protect_go_templates(once, env) == once
    written = 'FROM m\nTEMPLATE """{% raw %}{{ .Prompt }}{% endraw %}"""\n'
    assert protect_go_templates(written, env) == written


def test_template_inside_another_value_or_a_comment_is_not_an_instruction() -> None:
    env = _env()
    text = 'FROM m\n# TEMPLATE {{ x }} is only a comment\nSYSTEM """say\nTEMPLATE {{ y }}"""\n'
    assert protect_go_templates(text, env) == text


def test_protection_uses_the_dags_own_block_delimiters() -> None:
    env = _env(block_start_string="<%", block_end_string="%>")
    protected = protect_go_templates("FROM m\nTEMPLATE {{ .Prompt }}\n", env)
    assert protected == "FROM m\nTEMPLATE <% raw %>{{ .Prompt }}<% endraw %>\n"


@pytest.mark.parametrize(
    ("value", "is_file"),
    [
        ("pirate.modelfile", True),
        ("models/Modelfile", True),
        ("Modelfile", True),
        ("FROM llama3.2\nSYSTEM about a Modelfile", False),
        ("FROM llama3.2", False),
    ],
)
def test_only_one_line_values_ending_like_a_modelfile_name_are_files(value: str, is_file: bool) -> None:
    assert names_modelfile_file(value) is is_file
