"""One real ``dag.test()`` run of the pull/create test DAG on a shared emulator, shared by the tests that read it.

A DAG run costs seconds, so the run happens once per test session and each test checks one thing about
it (XCom values, what the emulator stored and counted). Also writes the Modelfile files the DAGs read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from tests.support.dag_runs import REPO_ROOT, DagRunResult, migrate_metadata_db, run_dag
from tests.support.task_watch import run_when_deferred

DAG_FILE = REPO_ROOT / "tests" / "dags" / "ollama_pull_create_dag.py"
SYSTEM_PROMPT = "You are a pirate. Answer like one."
#: A Go template Jinja cannot parse; it must reach Ollama exactly as written.
GO_TEMPLATE = """{{- if .System }}<|system|>
{{ .System }}</s>
{{ end }}<|user|>
{{ .Prompt }}</s>
<|assistant|>
"""
PIRATE_MODELFILE = f'''# A Modelfile rendered by Airflow's Jinja: params in SYSTEM and PARAMETER, Go in TEMPLATE.
FROM {{{{ params.model }}}}
SYSTEM """{{{{ params.system_prompt }}}}"""
PARAMETER temperature {{{{ params.temperature }}}}
TEMPLATE """{GO_TEMPLATE}"""
'''
WEIGHTS_MODELFILE = "FROM ./weights.gguf\nPARAMETER num_ctx 1024\n"
WEIGHTS = GGUFSpec(name="local-weights", size_bytes=256 << 10, seed="pull-create-tests")


def write_modelfiles(folder: Path) -> Path:
    """Write ``pirate.modelfile``, ``weights.modelfile`` and ``weights.gguf`` into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pirate.modelfile").write_text(PIRATE_MODELFILE)
    (folder / "weights.modelfile").write_text(WEIGHTS_MODELFILE)
    SyntheticGGUF(WEIGHTS).write_to(folder / "weights.gguf")
    return folder


def run_conf(registry: RegistryEmulator) -> dict[str, object]:
    return {"model": registry.model_name("tiny"), "system_prompt": SYSTEM_PROMPT, "temperature": 0.3}


@dataclass
class SharedRun:
    """The finished run, with the emulator and registry still serving so tests can look at them."""

    result: DagRunResult
    emulator: OllamaEmulator
    registry: RegistryEmulator
    model: str
    deferred: bool
    modelfile_dir: Path


#: Marks the tests that read the shared run: with xdist they stay on one worker, which runs the DAG once.
on_shared_run = pytest.mark.xdist_group("ollama_pull_create_shared")
#: The run in progress, so that test modules importing the fixture (each gets its own copy) share one run.
_current: SharedRun | None = None


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedRun]:
    """``ollama_pull_create_shared`` run once against an emulator named by ``ollama_default``."""
    global _current
    if _current is not None:
        yield _current
        return
    folder = write_modelfiles(tmp_path_factory.mktemp("modelfiles"))
    with (
        RegistryEmulator() as registry,
        OllamaEmulator(models_dir=tmp_path_factory.mktemp("store")) as emulator,
    ):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OLLAMA_TEST_MODELFILE_DIR", str(folder))
            patch.setenv(
                "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
            )
            migrate_metadata_db()  # the deferral watcher reads task rows
            watcher, deferred = run_when_deferred("ollama_pull_create_shared", "pull_deferred", lambda: None)
            try:
                result = run_dag(DAG_FILE, "ollama_pull_create_shared", conf=run_conf(registry))
            finally:
                watcher.join(30)
        _current = SharedRun(
            result, emulator, registry, registry.model_name("tiny"), deferred.is_set(), folder
        )
        try:
            yield _current
        finally:
            _current = None
