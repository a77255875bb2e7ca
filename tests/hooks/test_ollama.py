"""OllamaHook's sync methods against the Ollama emulator (and its registry for pull and push)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from airflow_provider_ollama.exceptions import OllamaModelNotFoundError
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


def _stored_digest(emulator: OllamaEmulator, model: str) -> str:
    manifest = emulator.store.read_manifest(ModelName.parse(model))
    assert manifest is not None, f"{model} is not in the emulator's store"
    return manifest.digest


def _raw_show(emulator: OllamaEmulator, model: str) -> dict[str, Any]:
    """``/api/show`` as JSON: the client's ShowResponse drops fields such as system and renderer."""
    response = httpx.post(f"{emulator.url}/api/show", json={"model": model}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "ollama", **fields}))


# --- server --------------------------------------------------------------------------------------


def test_version_and_test_connection_name_the_server(
    hook: OllamaHook, ollama_emulator: OllamaEmulator
) -> None:
    assert hook.version() == ollama_emulator.settings.version
    assert hook.test_connection() == (
        True,
        f"Connected to Ollama {ollama_emulator.settings.version} at {ollama_emulator.url}.",
    )


def test_is_ready_and_wait_until_ready_return_for_a_running_server(hook: OllamaHook) -> None:
    assert hook.is_ready() is True
    hook.wait_until_ready(timeout=5)


def test_get_conn_is_the_cached_official_client(hook: OllamaHook, ollama_emulator: OllamaEmulator) -> None:
    client = hook.get_client()
    assert isinstance(client, ollama.Client)
    assert hook.get_conn() is client
    assert str(client._client.base_url).rstrip("/") == ollama_emulator.url


# --- models --------------------------------------------------------------------------------------


def test_pull_reports_progress_and_returns_the_stored_manifest_digest(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, ollama_registry_session: RegistryEmulator
) -> None:
    model = ollama_registry_session.model_name("tiny")
    updates: list[ollama.ProgressResponse] = []
    # Ollama reports a blob's progress on a 60 ms ticker only, so a blob fetched faster gets no report:
    # half the weights, then a 0.3 s pause, makes sure the weights are reported mid-download.
    weights = ollama_registry_session.catalogue.model("library/tiny")
    assert weights is not None
    ollama_registry_session.faults.stall(digest=weights.model_digest, seconds=0.3, times=1)

    digest = hook.pull(model, insecure=True, progress=updates.append)

    assert digest == _stored_digest(ollama_emulator, model)
    assert updates[0].status == "pulling manifest"
    assert updates[-1].status == "success"
    assert any(update.digest == weights.model_digest and update.total for update in updates)
    assert [entry.model for entry in hook.list_models()] == [model]


def test_show_and_has_model_see_a_pulled_model(hook: OllamaHook, tiny_model: str) -> None:
    details = hook.show(tiny_model)
    assert details.capabilities is not None
    assert "completion" in details.capabilities
    assert hook.has_model(tiny_model) is True


def test_has_model_is_false_for_a_model_the_server_lacks(hook: OllamaHook) -> None:
    assert hook.has_model("absent-model:7b") is False


def test_model_digest_of_a_missing_model_says_to_pull_it(
    hook: OllamaHook, ollama_emulator: OllamaEmulator
) -> None:
    with pytest.raises(OllamaModelNotFoundError, match=f"not on the Ollama server at {ollama_emulator.url}"):
        hook.model_digest("absent-model")


def test_copy_makes_a_second_name_and_delete_removes_it(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    hook.copy(tiny_model, "team/copy:v1")
    assert hook.model_digest("team/copy:v1") == _stored_digest(ollama_emulator, tiny_model)
    hook.delete("team/copy:v1")
    assert hook.has_model("team/copy:v1") is False
    assert hook.has_model(tiny_model) is True


def test_push_sends_a_model_to_the_registry_its_name_points_at(
    hook: OllamaHook, ollama_registry_session: RegistryEmulator, tiny_model: str
) -> None:
    target = ollama_registry_session.model_name("team/pushed:v1")
    hook.copy(tiny_model, target)
    updates: list[ollama.ProgressResponse] = []

    hook.push(target, insecure=True, progress=updates.append)

    assert updates[-1].status == "success"
    assert "team/pushed:v1" in ollama_registry_session.models


# --- blobs and create ----------------------------------------------------------------------------


def _gguf(tmp_path: Path, seed: str = "hook-tests") -> Path:
    return SyntheticGGUF(GGUFSpec(size_bytes=256 << 10, seed=seed)).write_to(tmp_path / f"{seed}.gguf")


def test_upload_blob_sends_a_file_once_and_skips_it_when_the_server_has_it(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    path = _gguf(tmp_path)
    digest = SyntheticGGUF(GGUFSpec(size_bytes=256 << 10, seed="hook-tests")).digest
    assert hook.blob_exists(digest) is False

    assert hook.upload_blob(path) == digest
    assert hook.upload_blob(path) == digest

    assert hook.blob_exists(digest) is True
    assert hook.blob_exists(digest.replace(":", "-")) is True  # the store's spelling is accepted too
    # The emulator counts a request once its answer is sent, so count only the long-finished upload.
    assert ollama_emulator.stats.requests_to("POST", "/api/blobs/x") == 1


def test_blob_exists_rejects_a_malformed_digest_before_asking(hook: OllamaHook) -> None:
    with pytest.raises(ValueError, match="invalid digest format"):
        hook.blob_exists("sha256:not-hex")


def test_create_from_a_base_model_returns_the_new_digest(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    updates: list[ollama.ProgressResponse] = []

    digest = hook.create(
        "team/assistant:v1",
        from_model=tiny_model,
        system="You answer in one word.",
        parameters={"temperature": 0.1, "stop": ["<end>"]},
        progress=updates.append,
    )

    assert digest == _stored_digest(ollama_emulator, "team/assistant:v1")
    assert updates[-1].status == "success"
    shown = _raw_show(ollama_emulator, "team/assistant:v1")
    assert shown["system"] == "You answer in one word."
    assert "temperature" in shown["parameters"]


def test_create_uploads_local_files_and_accepts_digests_already_there(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    path = _gguf(tmp_path, seed="create-from-file")

    first = hook.create("from-file:v1", files={"model.gguf": path})
    blob_digest = hook.upload_blob(path)
    second = hook.create("from-digest:v1", files={"model.gguf": blob_digest})

    assert ollama_emulator.stats.requests_to("POST", "/api/blobs/x") == 1
    assert hook.show("from-file:v1").details is not None
    assert first == _stored_digest(ollama_emulator, "from-file:v1")
    assert second == _stored_digest(ollama_emulator, "from-digest:v1")


def test_create_sends_fields_the_client_lacks_through_httpx(
    hook: OllamaHook, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    digest = hook.create(
        "team/rendered:v1",
        from_model=tiny_model,
        system="Be brief.",
        renderer="qwen3-coder",
        requires="0.12.0",
    )

    assert digest == _stored_digest(ollama_emulator, "team/rendered:v1")
    shown = _raw_show(ollama_emulator, "team/rendered:v1")
    assert shown["requires"] == "0.12.0"
    assert "RENDERER qwen3-coder" in shown["modelfile"]
    assert shown["system"] == "Be brief."


def test_create_refuses_raw_fields_that_have_named_arguments(hook: OllamaHook) -> None:
    raw: dict[str, Any] = {"from": "base", "stream": False}
    with pytest.raises(TypeError, match=r"\['from', 'stream'\] as raw fields"):
        hook.create("x", **raw)


def test_create_refuses_a_file_that_is_neither_a_path_nor_a_digest(hook: OllamaHook) -> None:
    with pytest.raises(ValueError, match=r"files\['model.gguf'\] must be a pathlib.Path to upload"):
        hook.create("x", files={"model.gguf": "/tmp/model.gguf"})


# --- inference -----------------------------------------------------------------------------------


def test_generate_chat_and_embed_answer(hook: OllamaHook, tiny_model: str, embed_model: str) -> None:
    generated = hook.generate(tiny_model, "Why is the sky blue?", options={"num_predict": 8, "seed": 1})
    assert generated.done is True
    assert generated.response

    chatted = hook.chat(tiny_model, [{"role": "user", "content": "Hello"}], options={"num_predict": 8})
    assert chatted.message.role == "assistant"
    assert chatted.message.content

    embedded = hook.embed(embed_model, ["one", "two"])
    assert len(embedded.embeddings) == 2
    assert abs(sum(value * value for value in embedded.embeddings[0]) - 1.0) < 1e-3


def test_streaming_is_refused_with_a_pointer_to_the_client(hook: OllamaHook, tiny_model: str) -> None:
    with pytest.raises(TypeError, match=r"hook.get_client\(\) with stream=True"):
        hook.generate(tiny_model, "hi", stream=True)


def _expires_in(hook: OllamaHook, model: str) -> float:
    (loaded,) = [entry for entry in hook.ps() if entry.model == model]
    assert loaded.expires_at is not None
    return (loaded.expires_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


def test_load_keeps_a_model_for_the_given_time_and_unload_frees_it(hook: OllamaHook, tiny_model: str) -> None:
    hook.load(tiny_model, keep_alive="2h")
    assert 7000 < _expires_in(hook, tiny_model) <= 7200

    hook.unload(tiny_model)
    assert [entry.model for entry in hook.ps()] == []


def test_the_connection_keep_alive_is_the_default_a_call_can_override(
    monkeypatch: pytest.MonkeyPatch, ollama_emulator: OllamaEmulator, tiny_model: str
) -> None:
    _use_connection(monkeypatch, "ollama_keep", host=ollama_emulator.url, extra={"keep_alive": "1h"})
    hook = OllamaHook("ollama_keep")

    hook.generate(tiny_model, "hi", options={"num_predict": 2})
    assert 3500 < _expires_in(hook, tiny_model) <= 3600

    hook.chat(tiny_model, [{"role": "user", "content": "hi"}], options={"num_predict": 2}, keep_alive=60)
    assert 0 < _expires_in(hook, tiny_model) <= 60
