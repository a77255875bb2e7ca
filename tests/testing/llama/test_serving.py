"""The emulator serving a real model (smollm2:135m on llama.cpp) through Ollama's HTTP API.

One emulator and one pull for the module, with two parallel slots; each test asks for a few tokens.
What the engine does with a prompt is tested in test_engine.py; here: what a client sees of it
(streaming, counts, durations, errors) and what the scheduler does with runner processes (load,
unload, expiry, reload, slots, crashes, shutdown).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from airflow_provider_ollama.testing import OllamaEmulator, RegistryEmulator
from airflow_provider_ollama.testing.registry.real_models import SMOLLM2_NAME
from tests.support.real_model import GREEDY, ServedModel, real_model_emulator
from tests.testing.emulator.support import ndjson_lines
from tests.testing.llama.support import process_alive, smollm2_path, truncated, with_metadata

pytestmark = pytest.mark.xdist_group("llama")

STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, "
    "check ollama server logs for details"
)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedModel]:
    with real_model_emulator(num_parallel=2) as served:
        yield served


@pytest.fixture(scope="module")
def emulator(served: ServedModel) -> OllamaEmulator:
    return served.emulator


@pytest.fixture(scope="module")
def registry(served: ServedModel) -> RegistryEmulator:
    return served.registry


@pytest.fixture(scope="module")
def model(served: ServedModel) -> str:
    return served.name


@pytest.fixture
def client(emulator: OllamaEmulator) -> ollama.Client:
    return ollama.Client(host=emulator.url, timeout=120)


def _runner_pids(emulator: OllamaEmulator) -> list[int]:
    info = httpx.get(f"{emulator.url}/_emulator/info", timeout=10).json()
    return [runner["pid"] for runner in info["runners"] if runner["engine"] == "llama.cpp"]


def _wait_for_exit(pid: int, timeout: float) -> None:
    """Wait (bounded) for a runner process that is due to end; the emulator reaps it."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        assert time.monotonic() < deadline, f"runner {pid} still running after {timeout} s"
        time.sleep(0.05)


def _unload(client: ollama.Client, model: str) -> None:
    assert client.generate(model, "", keep_alive=0).done_reason == "unload"


def test_each_load_logs_which_engine_runs_the_model(
    client: ollama.Client, model: str, registry: RegistryEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    tiny = registry.model_name("tiny")
    client.pull(tiny, insecure=True)
    _unload(client, model)

    with caplog.at_level(logging.INFO, logger="airflow_provider_ollama.testing.emulator.llama"):
        client.generate(model, "Hi", options={**GREEDY, "num_predict": 1})
        client.generate(tiny, "Hi", options={"num_predict": 1})

    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("engine for")]
    assert lines == [
        f"engine for {model}: llama.cpp (272 tensors for 30 blocks of llama)",
        f"engine for {tiny}: synthetic (no weights for 2 of 2 blocks (a header-only GGUF))",
    ]
    _unload(client, tiny)


def test_generate_streams_a_token_per_object_with_the_runners_counts(
    client: ollama.Client, model: str
) -> None:
    parts = list(client.generate(model, "Count to ten.", stream=True, options={**GREEDY, "num_predict": 5}))

    *pieces, final = parts
    assert len(pieces) == 5  # llama-server streams one token at a time, and so does Ollama
    assert all(piece.response and not piece.done for piece in pieces)
    assert final.done
    assert final.done_reason == "length"
    assert final.eval_count == 5
    # context is the prompt and the answer in the model's own tokens, which the counts match
    assert final.context is not None
    assert len(final.context) == (final.prompt_eval_count or 0) + 5
    assert (final.eval_duration or 0) > 0
    assert (final.prompt_eval_duration or 0) > 0
    assert (final.total_duration or 0) >= (final.eval_duration or 0) + (final.prompt_eval_duration or 0)


def test_answers_are_the_models_own_and_stable_at_temperature_zero(client: ollama.Client, model: str) -> None:
    options = {**GREEDY, "num_predict": 6}

    first = client.generate(model, "The capital of France is", raw=True, options=options)
    second = client.generate(model, "The capital of France is", raw=True, options=options)

    assert "Paris" in (first.response or "")
    assert first.response == second.response


def test_a_load_reports_its_duration_and_ps_the_runners_size(
    client: ollama.Client, model: str, emulator: OllamaEmulator
) -> None:
    _unload(client, model)

    answer = client.generate(model, "Hi", keep_alive="10m", options={**GREEDY, "num_predict": 1})
    (running,) = client.ps().models

    assert (answer.load_duration or 0) > 10_000_000  # a runner process started and mapped the weights
    gguf_size = smollm2_path().stat().st_size
    # weights, KV cache (2 slots of 4096 tokens) and compute buffers: more than the file, as llama.cpp allocated
    assert gguf_size < (running.size or 0) < 4 * gguf_size
    assert running.size_vram == 0
    assert running.context_length == 4096
    assert running.expires_at is not None
    remaining = running.expires_at.timestamp() - time.time()
    assert 500 < remaining <= 600
    assert len(_runner_pids(emulator)) == 1


def test_another_num_ctx_reloads_the_runner(
    client: ollama.Client, model: str, emulator: OllamaEmulator
) -> None:
    client.generate(model, "Hi", options={**GREEDY, "num_predict": 1})
    (before,) = _runner_pids(emulator)

    client.generate(model, "Hi", options={**GREEDY, "num_predict": 1, "num_ctx": 1024})

    (after,) = _runner_pids(emulator)
    assert after != before
    _wait_for_exit(before, 15)
    assert [entry.context_length for entry in client.ps().models] == [1024]


def test_keep_alive_ends_the_runner_process_when_it_expires(
    client: ollama.Client, model: str, emulator: OllamaEmulator
) -> None:
    client.generate(model, "Hi", keep_alive="1s", options={**GREEDY, "num_predict": 1})
    (pid,) = _runner_pids(emulator)

    _wait_for_exit(pid, 15)  # no request needed: the expiry timer unloads it

    assert client.ps().models == []


def test_unloading_ends_the_runner_process(
    client: ollama.Client, model: str, emulator: OllamaEmulator
) -> None:
    client.generate(model, "Hi", options={**GREEDY, "num_predict": 1})
    (pid,) = _runner_pids(emulator)

    _unload(client, model)

    _wait_for_exit(pid, 15)
    assert _runner_pids(emulator) == []


def test_two_slots_answer_two_requests_at_once(emulator: OllamaEmulator, model: str) -> None:
    # OLLAMA_NUM_PARALLEL=2: the second answer starts before the first is done.
    options = {**GREEDY, "num_predict": 200}
    with httpx.Client(base_url=emulator.url, timeout=120) as http:
        body = {"model": model, "prompt": "Tell a long story.", "options": options}
        with http.stream("POST", "/api/generate", json=body) as first:
            lines = first.iter_lines()
            assert not json.loads(next(lines))["done"]
            second = http.post("/api/generate", json={**body, "options": {**GREEDY, "num_predict": 2}})
            assert second.status_code == 200
            assert ndjson_lines(second)[-1]["done"]
            assert not json.loads(next(lines))["done"]  # the first is still going


def test_a_runner_that_dies_mid_answer_is_ollamas_error_and_the_next_request_reloads(
    client: ollama.Client, model: str, emulator: OllamaEmulator
) -> None:
    client.generate(model, "Hi", options={**GREEDY, "num_predict": 1})
    (pid,) = _runner_pids(emulator)
    parts = client.generate(model, "Tell a long story.", stream=True, options={**GREEDY, "num_predict": 300})

    assert not next(parts).done
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ollama.ResponseError) as stopped:
        list(parts)

    assert stopped.value.error.startswith(STOPPED)
    again = client.generate(model, "Hi", options={**GREEDY, "num_predict": 1})
    assert again.done
    assert _runner_pids(emulator) != [pid]


def test_an_answer_the_runner_gives_up_on_ends_without_a_final_object(
    emulator: OllamaEmulator, model: str
) -> None:
    # SmolLM2 continues forty zeros with "-1" and zeros for ever: Ollama stops when a token has come 31
    # times in a row and ends the answer without a done object (llamaServerRunner.Completion).
    body = {"model": model, "prompt": "0" * 40, "raw": True, "options": {**GREEDY, "num_predict": 100}}
    with httpx.Client(base_url=emulator.url, timeout=120) as http:
        streamed = ndjson_lines(http.post("/api/generate", json=body))
        whole = http.post("/api/generate", json={**body, "stream": False})

    assert len(streamed) < 100
    assert {line["response"] for line in streamed[-31:]} == {"0"}
    assert not any(line["done"] or "error" in line for line in streamed)
    assert whole.status_code == 200
    assert whole.json()["done"] is False
    assert whole.json()["response"] == "".join(line["response"] for line in streamed)


def test_images_for_this_text_only_model_are_refused_as_llama_server_refuses_them(
    client: ollama.Client, model: str
) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        client.generate(model, "What is this?", images=["aGVsbG8="], options={"num_predict": 1})

    assert refused.value.status_code == 400
    assert json.loads(refused.value.error)["error"]["message"] == (
        "Multimodal data provided, but model does not support multimodal requests."
    )


def test_embeddings_of_a_model_without_pooling_are_refused(client: ollama.Client, model: str) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        client.embed(model, "hello")

    assert refused.value.status_code == 501
    assert refused.value.error == "This server does not support embeddings. Start it with `--embeddings`"


def test_chat_streams_a_token_per_message_with_the_runners_counts(client: ollama.Client, model: str) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    options = {**GREEDY, "num_predict": 5}

    *pieces, final = client.chat(model, messages, stream=True, options=options)
    whole = client.chat(model, messages, options=options)

    assert len(pieces) == 5
    assert all(piece.message.role == "assistant" and not piece.done for piece in pieces)
    assert final.done_reason == "length"
    assert final.eval_count == 5
    assert final.prompt_eval_count == whole.prompt_eval_count
    assert "".join(piece.message.content or "" for piece in pieces) == whole.message.content


def test_openai_embeddings_are_the_native_vectors_of_a_pooled_model(
    client: ollama.Client, emulator: OllamaEmulator, tmp_path: Path
) -> None:
    pooled = with_metadata(smollm2_path(), tmp_path / "pooled.gguf", "llama.pooling_type", 1)
    client.create(model="smollm2-pooled", files={"pooled.gguf": client.create_blob(pooled)})
    openai_client = openai.OpenAI(base_url=f"{emulator.url}/v1", api_key="unused")

    native = client.embed("smollm2-pooled", ["The sea is blue.", "Tax forms are due."])
    mapped = openai_client.embeddings.create(
        model="smollm2-pooled", input=["The sea is blue.", "Tax forms are due."]
    )
    _unload(client, "smollm2-pooled")

    assert len(mapped.data) == 2
    for item, vector in zip(mapped.data, native.embeddings, strict=True):
        assert item.embedding == pytest.approx(vector, abs=1e-6)
    assert mapped.usage.prompt_tokens == native.prompt_eval_count


def test_the_openai_routes_answer_with_the_models_text_and_counts(
    emulator: OllamaEmulator, model: str
) -> None:
    openai_client = openai.OpenAI(base_url=f"{emulator.url}/v1", api_key="unused")
    native = ollama.Client(host=emulator.url).chat(
        model, [{"role": "user", "content": "Name a fruit."}], options={**GREEDY, "num_predict": 4}
    )

    completion = openai_client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Name a fruit."}],
        temperature=0,
        seed=7,
        max_tokens=4,
    )

    assert completion.choices[0].message.content == native.message.content
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == native.prompt_eval_count
    assert completion.usage.completion_tokens == 4
    assert completion.choices[0].finish_reason == "length"


def test_debug_render_shows_the_prompt_llama_server_gets(emulator: OllamaEmulator, model: str) -> None:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "_debug_render_only": True,
    }
    answer = httpx.post(f"{emulator.url}/api/chat", json=body, timeout=30).json()

    assert answer["_debug_info"]["rendered_template"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_tools_reach_the_models_template_and_think_is_refused(
    client: ollama.Client, emulator: OllamaEmulator, model: str
) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [tool],
        "_debug_render_only": True,
    }
    rendered = httpx.post(f"{emulator.url}/api/chat", json=body, timeout=30).json()["_debug_info"][
        "rendered_template"
    ]

    # The template lists the tools in the system turn, as JSON, and says how to call one.
    assert rendered.startswith("<|im_start|>system\n")
    assert '"name":"get_weather"' in rendered
    assert "<tool_call>" in rendered
    # SmolLM2's template has no thinking tags: Ollama refuses think for it before loading anything.
    with pytest.raises(ollama.ResponseError) as refused:
        client.chat(model, [{"role": "user", "content": "Hi"}], think=True)
    assert refused.value.status_code == 400
    assert "does not support thinking" in refused.value.error


def test_weights_that_do_not_load_are_ollamas_error(client: ollama.Client, tmp_path: Path) -> None:
    broken = truncated(smollm2_path(), tmp_path / "broken.gguf", 20 << 20)
    digest = client.create_blob(broken)
    client.create(model="broken", files={"broken.gguf": digest})

    with pytest.raises(ollama.ResponseError) as failed:
        client.generate("broken", "Hi")

    assert failed.value.status_code == 500
    assert failed.value.error.startswith("llama runner process has terminated: exit status 1: ")
    assert "error loading model" in failed.value.error


def test_no_runner_outlives_the_emulator(registry: RegistryEmulator) -> None:
    name = registry.model_name(SMOLLM2_NAME)
    with OllamaEmulator(registry_url=registry.url) as emulator:
        client = ollama.Client(host=emulator.url)
        client.pull(name, insecure=True)
        client.generate(name, "Hi", keep_alive=-1, options={**GREEDY, "num_predict": 1})
        (pid,) = _runner_pids(emulator)

    assert not process_alive(pid)  # stopped with the emulator, not left to a keep-alive that never ends
