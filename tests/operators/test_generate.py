"""OllamaGenerateOperator: batches in dag.test() on shared and per-task servers, resumable output, bad input."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import ollama
import pytest

from airflow_provider_ollama.exceptions import OllamaGenerationError, OllamaModelNotFoundError
from airflow_provider_ollama.operators.generate import OllamaGenerateOperator
from airflow_provider_ollama.server.settings import LocalServer
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator, OllamaEmulatorProcess
from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.dags.ollama_batch_operators_dag import SEEDED_JSON, VERDICT_SCHEMA
from tests.operators.batch_reference import Reference
from tests.operators.batch_runs import BATCH_DAGS, BatchRun, records_without_timings
from tests.support.dag_runs import migrate_metadata_db, run_dag
from tests.support.moto_s3 import BATCH_BUCKET
from tests.support.ports import unused_port
from tests.support.task_watch import run_when_try_starts

# The session's batch DAG runs (tests/operators/conftest.py) happen once per worker: keep their readers on one.
pytestmark = pytest.mark.xdist_group(name="ollama_batch_operator_runs")


# --- shared server, in one dag.test() run ---------------------------------------------------------


@pytest.mark.airflow
def test_one_prompt_returns_its_record_with_counts_and_speed(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    record = shared_batch_run.result.xcoms["generate_one"]
    expected = batch_reference.generate("Greet Ada.")
    assert record["index"] == 0
    assert record["response"] == expected.response
    assert record["done_reason"] == "length"  # num_predict=12 ended it
    assert record["eval_count"] == 12
    assert record["prompt_eval_count"] == expected.prompt_eval_count
    assert record["total_duration"] > 0
    assert record["tokens_per_second"] > 0


@pytest.mark.airflow
def test_prompts_from_an_upstream_task_come_back_in_input_order(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    prompts = shared_batch_run.result.xcoms["upstream_prompts"]
    expected = [
        {"index": index, **batch_reference.generate(prompt, system="Answer briefly.").model_dump()}
        for index, prompt in enumerate(prompts)
    ]
    assert records_without_timings(shared_batch_run.result.xcoms["generate_many"]) == records_without_timings(
        expected
    )


@pytest.mark.airflow
def test_prompts_from_xcom_are_sent_as_written_never_rendered_as_templates(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    literal = "Keep {{ this }} literal."
    last = shared_batch_run.result.xcoms["generate_many"][-1]
    assert last["response"] == batch_reference.generate(literal, system="Answer briefly.").response
    assert last["response"] != batch_reference.generate("Keep  literal.", system="Answer briefly.").response


@pytest.mark.airflow
def test_a_jinja_string_rendering_to_a_list_is_a_batch(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    records = shared_batch_run.result.xcoms["generate_templated_list"]
    assert [record["response"] for record in records] == [
        batch_reference.generate("a").response,
        batch_reference.generate("b").response,
    ]


@pytest.mark.airflow
def test_schema_results_are_parsed_and_conform_to_the_schema(
    shared_batch_run: BatchRun, batch_reference: Reference
):
    records = shared_batch_run.result.xcoms["generate_schema"]
    assert [record["index"] for record in records] == [0, 1, 2]
    for record, prompt in zip(records, ["Rate apples.", "Rate pears.", "Rate plums."], strict=True):
        jsonschema.validate(record["response"], VERDICT_SCHEMA)
        raw = batch_reference.generate(prompt, format=VERDICT_SCHEMA, options=SEEDED_JSON).response
        assert record["response"] == json.loads(raw or "")


@pytest.mark.airflow
def test_output_uri_puts_the_summary_in_xcom_and_every_record_in_jsonl(shared_batch_run: BatchRun):
    location = shared_batch_run.output_dir / "generate_to_file"
    summary = shared_batch_run.result.xcoms["generate_to_file"]
    assert summary["uri"] == f"file://{location}/results.jsonl"
    assert (summary["items"], summary["succeeded"], summary["failed"], summary["resumed"]) == (7, 7, 0, 0)
    assert summary["eval_count"] > 0
    lines = (location / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(7))
    assert (location / "_SUCCESS").exists()


@pytest.mark.airflow
def test_missing_models_are_pulled_once_then_found(shared_batch_run: BatchRun):
    assert shared_batch_run.emulator is not None
    # Nine model tasks on a server that started empty: one pull per model (generate's and embed's).
    assert shared_batch_run.emulator.stats.requests_to("POST", "/api/pull") == 2
    shared_batch_run.result.assert_success()


# --- per-task servers -------------------------------------------------------------------------------


@pytest.mark.airflow
def test_a_per_task_server_answers_the_batch_and_is_gone_afterwards(
    local_batch_run: BatchRun, batch_reference: Reference
):
    records = local_batch_run.result.xcoms["generate_local"]
    prompts = ["First question.", "Second question.", "Third question."]
    expected = [{"index": i, **batch_reference.generate(p).model_dump()} for i, p in enumerate(prompts)]
    assert records_without_timings(records) == records_without_timings(expected)
    assert local_batch_run.leftover_servers == []


def test_max_concurrency_follows_the_per_task_servers_slots():
    local = OllamaGenerateOperator(
        task_id="g",
        model="tiny",
        prompt="x",
        server=LocalServer(num_parallel=3),
    )
    shared = OllamaGenerateOperator(task_id="g", model="tiny", prompt="x")
    chosen = OllamaGenerateOperator(task_id="g", model="tiny", prompt="x", server="local", max_concurrency=2)
    assert (local.effective_max_concurrency(), shared.effective_max_concurrency()) == (5, 8)
    assert chosen.effective_max_concurrency() == 2


# --- errors collected, crash and resume ----------------------------------------------------------


@pytest.mark.airflow
def test_collected_errors_fail_the_task_at_the_end_with_a_count_and_keep_the_records(
    monkeypatch: pytest.MonkeyPatch,
    ollama_emulator_factory: EmulatorFactory,
    batch_reference: Reference,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO, logger="airflow_provider_ollama")
    emulator = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )
    emulator.faults.fail_next(2, status=500, path="/api/generate")  # one at a time: items 0 and 1

    result = run_dag(BATCH_DAGS, "ollama_batch_collect", conf=batch_reference.conf())

    assert result.task_states == {"generate_collect": "failed"}
    records = result.xcoms["generate_collect"]
    assert [record["index"] for record in records] == list(range(6))
    assert [record.get("error") for record in records[:2]] == ["OllamaServerError"] * 2
    assert all("response" in record for record in records[2:])
    assert emulator.stats.requests_to("POST", "/api/generate") == 6  # no retries: request_retries=0
    assert (
        "OllamaGenerationError: 2 of 6 items failed. First: item 0: OllamaServerError"
        in capfd.readouterr().out
    )
    assert "done: 6 items, 4 succeeded, 2 failed" in caplog.text  # the summary line


@pytest.mark.airflow
def test_a_retried_task_resumes_from_s3_and_generates_no_written_item_again(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    batch_reference: Reference,
    results_bucket: str,
    moto_s3: str,
):
    models_dir = tmp_path / "models"
    # The retry's server binds the same port later: one outside the ephemeral range, which no outgoing
    # connection of the busy machine can take in between.
    port = unused_port()
    # 50 ms per request: a fast machine would otherwise answer all 40 prompts in the moment between the
    # 15th answer and the process exit, and the first try would never fail.
    first = OllamaEmulatorProcess(
        registry_url=batch_reference.registry.url,
        models_dir=models_dir,
        port=port,
        request_latency_seconds=0.05,
    ).start()
    ollama.Client(host=first.url, timeout=60).pull(batch_reference.model, insecure=True)
    # The first try's server exits once it has answered 15 of the 40 prompts (a few more slip through
    # while it shuts down).
    first.faults.exit_after_requests(15, path="/api/generate")
    monkeypatch.setenv("AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": first.url}))
    # The retry finds a fresh server (same port, same model store) that counts what it is asked.
    second = OllamaEmulatorProcess(
        registry_url=batch_reference.registry.url, models_dir=models_dir, port=port
    )
    migrate_metadata_db()
    watcher, retried = run_when_try_starts("ollama_batch_resume", "generate_resumable", 2, second.start)
    try:
        result = run_dag(
            BATCH_DAGS,
            "ollama_batch_resume",
            conf=batch_reference.conf(output_uri=f"{results_bucket}/resume"),
        )
        asked_after_restart = second.stats.requests_to("POST", "/api/generate") if retried.is_set() else None
    finally:
        watcher.join(60)
        second.close()
        first.close()

    assert retried.is_set(), "the task was never retried"
    result.assert_success()
    summary = result.xcoms["generate_resumable"]
    resumed = summary["resumed"]
    assert 0 < resumed < 40, "the first try should have saved part of the batch, not all of it"
    assert (summary["items"], summary["succeeded"], summary["failed"]) == (40, 40, 0)
    assert asked_after_restart == 40 - resumed
    records = _s3_jsonl(moto_s3, "resume/results.jsonl")
    prompts = [f"Resumable item {index}." for index in range(40)]
    expected = [{"index": i, **batch_reference.generate(p).model_dump()} for i, p in enumerate(prompts)]
    assert records_without_timings(records) == records_without_timings(expected)


def _s3_jsonl(endpoint: str, key: str) -> list[dict[str, Any]]:
    body = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=BATCH_BUCKET, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


# --- bad arguments: at construction when not templated, at execute start when templated -----------

# A per-task server that cannot start: an argument check that ran late would fail with another error.
NO_SERVER = LocalServer(binary="/nowhere/ollama")


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": "a", "prompts": ["b"]}, "give either prompt (one) or prompts (a list), not both"),
        ({}, "nothing to generate: give prompt (one) or prompts (a list)"),
        ({"prompt": "a", "format": {"type": "objekt"}}, "format is not a valid JSON Schema"),
        ({"prompt": "a", "format": "yaml"}, "format='yaml' is not supported"),
        ({"prompt": "a", "on_error": "ignore"}, "on_error='ignore' is not supported"),
        ({"prompt": "a", "max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"prompt": "a", "request_retries": -1}, "request_retries must be 0 or more"),
        ({"prompt": "a", "timeout": 0}, "timeout must be a positive number of seconds"),
    ],
)
def test_bad_arguments_that_are_not_templates_fail_when_the_dag_is_parsed(
    arguments: dict[str, Any], message: str
):
    arguments = {"model": "llama3.2:1b", **arguments}
    with pytest.raises((ValueError, TypeError)) as failure:
        OllamaGenerateOperator(task_id="generate", **arguments)
    assert str(failure.value).startswith("generate: ")
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompts": []}, "prompts is empty"),
        ({"prompts": ["ok", ""]}, "1 prompt(s) are empty (index 1)"),
        ({"prompt": ""}, "1 prompt(s) are empty (index 0)"),
        ({"prompts": "['a', 'b']"}, "prompts rendered to a string"),
        ({"prompt": "a", "model": "bad model!"}, "invalid model name 'bad model!'"),
        ({"prompt": "a", "model": ""}, "model must name a model"),
        ({"prompt": "a", "model": "{{ params.model }}"}, "model is still a template"),
        ({"prompt": "a", "options": "{'seed': 1}"}, "render_template_as_native_obj=True"),
        ({"prompt": "a", "options": {"num_predict": "ten"}}, "option 'num_predict' expects an integer"),
        ({"prompt": "a", "options": {"temperature": "hot"}}, "option 'temperature' expects a number"),
        ({"prompt": "a", "options": {"stop": "END"}}, "option 'stop' expects a list of strings"),
        ({"prompt": "a", "options": {"use_mmap": 1}}, "option 'use_mmap' expects true or false, got 1"),
        ({"prompts": [{"prompt": "a", "images": "cat.png"}]}, "prompt 0: images must be a list"),
        ({"prompts": [{"prompt": "a", "images": ["/nowhere/cat.png"]}]}, "image file(s) not found"),
        ({"prompts": [{"prompt": "a", "system": "x"}]}, "unknown keys ['system']"),
        ({"prompt": "a", "output_uri": 7}, "output_uri rendered to int"),
    ],
)
def test_template_fields_are_checked_once_rendered_before_any_server_starts(
    arguments: dict[str, Any], message: str
):
    arguments = {"model": "llama3.2:1b", **arguments}
    operator = OllamaGenerateOperator(task_id="generate", server=NO_SERVER, **arguments)  # stored as given
    started = time.monotonic()
    with pytest.raises((ValueError, TypeError), match=r"^generate: ") as failure:
        operator.execute({})
    assert message in str(failure.value)
    assert time.monotonic() - started < 1


@pytest.fixture
def default_emulator(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator_factory: EmulatorFactory, batch_reference: Reference
) -> OllamaEmulator | OllamaEmulatorProcess:
    """A fresh shared server named by ``ollama_default``, pulling from the batch tests' registry."""
    emulator = ollama_emulator_factory(registry_url=batch_reference.registry.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OLLAMA_DEFAULT", json.dumps({"conn_type": "ollama", "host": emulator.url})
    )
    return emulator


def test_a_rendered_option_of_the_wrong_type_fails_before_any_request(
    default_emulator: OllamaEmulator | OllamaEmulatorProcess,
):
    emulator = default_emulator
    operator = OllamaGenerateOperator(
        task_id="generate", model="tiny", prompt="hello", options={"num_predict": "{{ params.n }}"}
    )
    operator.options = {"num_predict": "ten"}  # what rendering produced
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"^generate: option 'num_predict' expects an integer, got 'ten'"):
        operator.execute({})
    assert time.monotonic() - started < 1
    assert emulator.stats.requests_to("POST", "/api/generate") == 0


def test_a_server_that_refuses_an_option_type_is_asked_once_not_retried(
    default_emulator: OllamaEmulator | OllamaEmulatorProcess, batch_reference: Reference
):
    emulator = default_emulator
    model = batch_reference.registry.model_name("tiny")
    operator = OllamaGenerateOperator(
        task_id="generate",
        model=model,
        prompt="hello",
        options={"future_knob": "high"},  # unknown here, typed by a newer server
    )
    emulator.faults.fail_next(
        10, status=500, message='option "future_knob" must be of type integer', path="/api/generate"
    )
    with pytest.raises(OllamaGenerationError, match='option "future_knob" must be of type integer'):
        operator.execute({})
    assert emulator.stats.requests_to("POST", "/api/generate") == 1


def test_a_model_the_registry_lacks_fails_fast_naming_it(
    default_emulator: OllamaEmulator | OllamaEmulatorProcess, batch_reference: Reference
):
    emulator = default_emulator
    missing = batch_reference.registry.model_name("no-such-model")
    operator = OllamaGenerateOperator(task_id="generate", model=missing, prompt="hello")
    started = time.monotonic()
    with pytest.raises(OllamaModelNotFoundError, match="no-such-model"):
        operator.execute({})
    assert time.monotonic() - started < 2
    assert emulator.stats.requests_to("POST", "/api/generate") == 0


def test_images_and_a_template_go_with_their_own_prompt(tmp_path: Path):
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG")
    items: list[Any] = [{"prompt": "a", "images": [str(picture)], "template": "{{ .Prompt }}"}, "b"]
    operator = OllamaGenerateOperator(task_id="g", model="tiny", prompts=items)

    assert operator.build_batch().prompts == items


def test_mapping_over_prompts_is_accepted_when_the_dag_is_parsed():
    from airflow.sdk import DAG

    with DAG("mapped", schedule=None):
        mapped = OllamaGenerateOperator.partial(task_id="generate", model="tiny", server="local").expand(
            prompts=[["a", "b"], ["c"]]
        )
    assert mapped.operator_class is OllamaGenerateOperator
