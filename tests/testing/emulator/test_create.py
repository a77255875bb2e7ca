"""POST /api/create: derived models, models from uploaded GGUF blobs, and Ollama's create errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import Manifest
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.gguf import GGUFSpec, SyntheticGGUF, parameter_size_label
from airflow_provider_ollama.testing.registry import RegistryEmulator
from tests.testing.emulator.openapi import JSON, validate_response, validate_stream
from tests.testing.emulator.support import (
    JSON_PLAIN,
    JSON_UTF8,
    assert_error,
    assert_stream_error,
    ndjson_lines,
)


def _create(server: OllamaEmulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + "/api/create", json=body, timeout=60)


def _manifest(server: OllamaEmulator, name: str) -> tuple[bytes, Manifest]:
    path = server.store.find_manifest(ModelName.parse(name))
    assert path is not None, f"{name} has no manifest"
    raw = path.read_bytes()
    return raw, Manifest.parse(raw)


def _show(server: OllamaEmulator, name: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(server.url + "/api/show", json={"model": name}).json()
    return body


@pytest.fixture
def gguf_digest(client: ollama.Client, tmp_path: Path) -> str:
    """An F16 GGUF uploaded as a blob, as a Modelfile ``FROM ./model.gguf`` would upload it."""
    path = SyntheticGGUF(
        GGUFSpec(size_bytes=200_000, file_type="F16", architecture="qwen2", seed="create")
    ).write_to(tmp_path / "model.gguf")
    return client.create_blob(path)


@pytest.mark.smoke
def test_derived_model_gets_system_prompt_and_parameters(
    client: ollama.Client, server: OllamaEmulator
) -> None:
    lines = ndjson_lines(
        _create(
            server,
            {
                "model": "mario",
                "from": "tiny",
                "system": "You are Mario.",
                "parameters": {"temperature": 0.2, "num_ctx": 2048},
            },
        )
    )
    validate_stream("create", lines)
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "pulling manifest", "a missing from model is pulled first"
    assert statuses[-2:] == ["writing manifest", "success"]
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert sum(s.startswith("creating new layer sha256:") for s in statuses) == 2  # system and parameters
    shown = _show(server, "mario")
    assert shown["system"] == "You are Mario."
    assert "temperature                    0.2" in shown["parameters"]
    assert "num_ctx                        2048" in shown["parameters"]
    assert 'stop                           "</s>"' in shown["parameters"], "base parameters are kept"
    assert shown["details"]["parent_model"] == "tiny:latest"


def test_derived_model_reuses_the_base_blobs(client: ollama.Client, server: OllamaEmulator) -> None:
    client.pull("tiny")
    client.create("mario", from_="tiny", system="Hi.")
    _, base = _manifest(server, "tiny")
    _, derived = _manifest(server, "mario")
    assert derived.layer("model") == base.layer("model")
    assert derived.layer("template") == base.layer("template")
    assert derived.config != base.config, "a new config blob is written every time"
    assert json.loads(_manifest(server, "mario")[0])["layers"][0]["from"] == "tiny:latest"


def test_creating_the_same_model_twice_writes_identical_bytes(server: OllamaEmulator) -> None:
    request = {
        "model": "twice",
        "from": "tiny",
        "system": "Same.",
        "parameters": {"top_k": 10},
        "license": ["MIT", "Apache-2.0"],
    }
    assert _create(server, {**request, "stream": False}).json() == {"status": "success"}
    first, _ = _manifest(server, "twice")
    lines = ndjson_lines(_create(server, request))
    second, _ = _manifest(server, "twice")
    assert first == second
    assert not [line for line in lines if line["status"].startswith("creating new layer")]


def test_created_manifest_is_gos_encoder_output(client: ollama.Client, server: OllamaEmulator) -> None:
    client.create("mario", from_="tiny", system="x")
    raw, _ = _manifest(server, "mario")
    assert raw.endswith(b"}\n"), "json.Encoder adds a newline"
    assert b" " not in raw
    assert raw.startswith(
        b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":'
    )


def test_license_list_becomes_one_layer_each_and_messages_replace(
    client: ollama.Client, server: OllamaEmulator
) -> None:
    client.create(
        "chatty",
        from_="tiny",
        license=["MIT", "Apache-2.0"],
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    )
    _, manifest = _manifest(server, "chatty")
    assert [layer.kind for layer in manifest.layers].count("license") == 3  # the base's plus two
    shown = _show(server, "chatty")
    assert shown["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert shown["license"].endswith("MIT\nApache-2.0")


def test_template_replaces_the_base_template(client: ollama.Client, server: OllamaEmulator) -> None:
    client.create("plain", from_="tiny", template="{{ .Prompt }}")
    assert _show(server, "plain")["template"] == "{{ .Prompt }}"


def test_model_from_an_uploaded_gguf_blob(
    client: ollama.Client, server: OllamaEmulator, gguf_digest: str
) -> None:
    lines = ndjson_lines(_create(server, {"model": "imported", "files": {"model.gguf": gguf_digest}}))
    # The upload is validated through llama-quantize's COPY (one progress line per tensor); the copy
    # no longer names its source file, so the model has no parent.
    assert lines == [
        {"status": "parsing GGUF"},
        {"status": "validating GGUF model", "digest": "0" * 19, "total": 200_000, "completed": 100_000},
        {"status": "validating GGUF model", "digest": "0" * 19, "total": 200_000, "completed": 200_000},
        {"status": "verifying conversion"},
        {"status": f"using existing layer {gguf_digest}"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    details = _show(server, "imported")["details"]
    assert details == {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "199K",  # counted from the tensors, not general.parameter_count
        "quantization_level": "F16",
    }
    # /api/show's model_info reports the tensor count too (the decoder overwrites the stored key).
    counted = _show(server, "imported")["model_info"]["general.parameter_count"]
    assert counted != 1_200_000
    assert parameter_size_label(counted) == "199K"
    assert client.show("imported").capabilities == ["completion"]


def test_gguf_is_recognised_by_its_magic_without_the_extension(
    client: ollama.Client, server: OllamaEmulator, gguf_digest: str
) -> None:
    assert client.create("by-magic", files={"weights": gguf_digest}).status == "success"


@pytest.mark.asyncio
async def test_async_client_creates_from_a_chunked_upload(
    async_client: ollama.AsyncClient, server: OllamaEmulator, tmp_path: Path
) -> None:
    path = SyntheticGGUF(GGUFSpec(size_bytes=150_000, seed="async")).write_to(tmp_path / "a.gguf")
    digest = await async_client.create_blob(path)
    result = await async_client.create("async-model", files={"a.gguf": digest}, system="Async.")
    assert result.status == "success"
    validate_response("create", {"status": result.status}, content_type=JSON)


def test_non_gguf_file_is_rejected_after_parsing_starts(
    server: OllamaEmulator, client: ollama.Client, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    digest = client.create_blob(junk)
    streamed = _create(server, {"model": "bad", "files": {"junk.gguf": digest}})
    assert assert_stream_error(streamed, "supplied file was not in GGUF format") == [
        {"status": "parsing GGUF"}
    ]
    single = _create(server, {"model": "bad", "files": {"junk.gguf": digest}, "stream": False})
    assert_error(single, 400, "supplied file was not in GGUF format", content_type=JSON_PLAIN)


def test_unknown_file_type_is_400(server: OllamaEmulator, client: ollama.Client, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"plain text")
    digest = client.create_blob(junk)
    assert_error(
        _create(server, {"model": "bad", "files": {"notes.txt": digest}}),
        400,
        "unknown type",
        content_type=JSON_PLAIN,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "x", "files": {"../model.gguf": "sha256:" + "a" * 64}}, "file path must be relative"),
        ({"model": "x", "files": {"/abs/model.gguf": "sha256:" + "a" * 64}}, "file path must be relative"),
        ({"model": "x", "files": {"model.gguf": ""}}, "invalid digest format"),
        ({"model": "a/b/c/d", "from": "tiny"}, "invalid model name"),
        ({"model": "x", "modelfile": "FROM tiny\nSYSTEM hi"}, "neither 'from' or 'files' was specified"),
    ],
)
def test_create_request_errors_are_400(server: OllamaEmulator, body: dict[str, Any], message: str) -> None:
    response = _create(server, body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_modelfile_only_request_is_rejected_through_the_client_too(server: OllamaEmulator) -> None:
    response = _create(server, {"model": "legacy", "modelfile": "FROM tiny", "stream": False})
    assert_error(response, 400, "neither 'from' or 'files' was specified", content_type=JSON_PLAIN)


def test_invalid_from_name_is_400(server: OllamaEmulator) -> None:
    assert_error(
        _create(server, {"model": "x", "from": "a/b/c/d"}), 400, "invalid model name", content_type=JSON_PLAIN
    )


def test_unknown_from_model_fails_in_the_automatic_pull(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.create("x", from_="does-not-exist")
    assert (caught.value.status_code, caught.value.error) == (500, "pull model manifest: file does not exist")


def test_bad_template_is_400(server: OllamaEmulator) -> None:
    response = _create(
        server, {"model": "x", "from": "tiny", "template": "{{ if .System }}never closed", "stream": False}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("template error: ")


def test_only_one_adapter_is_supported(server: OllamaEmulator, client: ollama.Client, tmp_path: Path) -> None:
    digests = [
        client.create_blob(
            SyntheticGGUF(GGUFSpec(size_bytes=120_000, seed=f"adapter{i}")).write_to(tmp_path / f"{i}.gguf")
        )
        for i in range(2)
    ]
    response = _create(
        server,
        {
            "model": "x",
            "from": "tiny",
            "adapters": {"a.gguf": digests[0], "b.gguf": digests[1]},
            "stream": False,
        },
    )
    assert_error(response, 400, "only one adapter is currently supported", content_type=JSON_PLAIN)
    assert client.create("adapted", from_="tiny", adapters={"a.gguf": digests[0]}).status == "success"
    _, manifest = _manifest(server, "adapted")
    assert manifest.layer("adapter") is not None


def test_quantize_converts_an_f16_model(
    client: ollama.Client, server: OllamaEmulator, gguf_digest: str
) -> None:
    client.create("f16", files={"model.gguf": gguf_digest})
    lines = ndjson_lines(_create(server, {"model": "q4", "from": "f16", "quantize": "q4_K_M"}))
    assert lines[0] == {
        "status": "quantizing F16 model to Q4_K_M",
        "digest": "0" * 19,
        "total": 200_000,
        "completed": 100_000,
    }
    assert [line["status"] for line in lines[2:4]] == [
        "verifying conversion",
        "creating new layer " + _model_digest(server, "q4"),
    ]
    assert _show(server, "q4")["details"]["quantization_level"] == "Q4_K_M"


def _model_digest(server: OllamaEmulator, name: str) -> str:
    layer = _manifest(server, name)[1].layer("model")
    assert layer is not None
    return layer.digest


def test_quantize_type_is_named_as_given_and_parsed_like_ollama(
    client: ollama.Client, server: OllamaEmulator, gguf_digest: str
) -> None:
    client.create("f16", files={"model.gguf": gguf_digest})
    lines = ndjson_lines(_create(server, {"model": "q4k", "from": "f16", "quantize": "q4_k"}))
    assert lines[0]["status"] == "quantizing F16 model to Q4_K"
    assert _show(server, "q4k")["details"]["quantization_level"] == "Q4_K_M"
    response = _create(server, {"model": "q", "from": "f16", "quantize": "q5_k_m", "stream": False})
    assert_error(
        response,
        500,
        "unsupported quantization type Q5_K_M - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0",
        content_type=JSON_PLAIN,
    )
    # Quantizing to the type the model already has writes no new layer.
    same = ndjson_lines(_create(server, {"model": "same", "from": "f16", "quantize": "f16"}))
    assert [line["status"] for line in same] == [
        "using existing layer " + _model_digest(server, "f16"),
        "writing manifest",
        "success",
    ]


def test_quantize_refuses_an_already_quantized_model(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.create("q", from_="tiny", quantize="q8_0")
    assert caught.value.error == "quantization is only supported for F16, BF16 and F32 models"


def test_recreating_a_model_removes_its_now_unused_layers(
    client: ollama.Client, server: OllamaEmulator
) -> None:
    client.create("mario", from_="tiny", system="First.")
    _, first = _manifest(server, "mario")
    client.create("mario", from_="tiny", system="Second.")
    old_system = first.layer("system")
    assert old_system is not None
    assert not server.store.has_blob(old_system.digest)
    # ConfigV2 has no rootfs, so both versions share one config blob, which stays.
    assert _manifest(server, "mario")[1].config == first.config
    assert server.store.has_blob(first.config.digest)


def test_noprune_keeps_the_old_layers(
    ollama_emulator_factory: Callable[..., Any], registry: RegistryEmulator
) -> None:
    server = ollama_emulator_factory(registry_url=registry.url, noprune=True)
    client = ollama.Client(host=server.url)
    client.create("mario", from_="tiny", system="First.")
    _, first = _manifest(server, "mario")
    client.create("mario", from_="tiny", system="Second.")
    old_system = first.layer("system")
    assert old_system is not None
    assert server.store.has_blob(old_system.digest)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "x", "from": "tiny", "draft_quantize": "q8_0"}, "--draft-quantize requires a DRAFT model"),
        ({"model": "x", "from": "tiny", "adapters": {"../a.gguf": ""}}, "invalid digest format"),
        ({"model": "x", "files": {}}, "unknown type"),
        ({"model": "x", "files": {"weights": "not-a-digest"}}, "unknown type"),
        (
            {"model": "x", "draft_files": {"/d.gguf": "sha256:" + "a" * 64}, "from": "tiny"},
            "file path must be relative",
        ),
    ],
)
def test_create_checks_follow_the_handler(server: OllamaEmulator, body: dict[str, Any], message: str) -> None:
    # The handler's own checks answer through gin's c.JSON (charset=utf-8); the rest are the first
    # line of the create stream (plain application/json).
    in_stream = message == "unknown type"
    assert_error(_create(server, body), 400, message, content_type=JSON_PLAIN if in_stream else JSON_UTF8)


def test_malformed_digest_of_a_gguf_file_fails_after_parsing_starts(server: OllamaEmulator) -> None:
    streamed = _create(server, {"model": "x", "files": {"m.gguf": "sha256:short"}})
    assert assert_stream_error(streamed, "invalid digest format") == [{"status": "parsing GGUF"}]


def test_adapter_paths_are_not_checked_but_its_failures_are_400(server: OllamaEmulator) -> None:
    missing = "sha256:" + "b" * 64
    response = _create(
        server, {"model": "x", "from": "tiny", "adapters": {"../a.gguf": missing}, "stream": False}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("open ")


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"model_family": 3}, 'info field "model_family" must be a string'),
        ({"context_length": 1.5}, 'info field "context_length" must be a non-negative integer'),
        ({"embedding_length": "768"}, 'info field "embedding_length" must be a number'),
    ],
)
def test_info_field_types_are_checked(server: OllamaEmulator, info: dict[str, Any], message: str) -> None:
    response = _create(server, {"model": "x", "from": "tiny", "info": info, "stream": False})
    assert_error(response, 400, message, content_type=JSON_PLAIN)


def test_info_overrides_the_config_and_adds_capabilities(server: OllamaEmulator) -> None:
    info = {
        "model_family": "custom",
        "parameter_size": "7B",
        "quantization_level": "Q9",
        "context_length": 8192,
        "capabilities": ["vision"],
    }
    assert ndjson_lines(_create(server, {"model": "x", "from": "tiny", "info": info}))[-1] == {
        "status": "success"
    }
    details = _show(server, "x")["details"]
    assert details["family"] == "custom"
    assert details["families"][0] == "custom"  # then the GGUF's architecture
    assert (details["parameter_size"], details["quantization_level"]) == ("7B", "Q9")


def test_cloud_from_makes_a_remote_stub_with_gos_config_bytes(server: OllamaEmulator) -> None:
    body = {"model": "remote", "from": "gpt-oss:20b-cloud", "info": {"capabilities": ["completion"]}}
    assert [line["status"] for line in ndjson_lines(_create(server, body))] == ["writing manifest", "success"]
    raw, manifest = _manifest(server, "remote")
    assert b'"layers":null' in raw
    assert server.store.blob_path(manifest.config.digest).read_bytes() == (
        b'{"model_format":"","model_family":"","model_families":null,"model_type":"","file_type":"",'
        b'"remote_host":"https://ollama.com:443","remote_model":"gpt-oss:20b","capabilities":["completion"],'
        b'"architecture":"amd64","os":"linux"}\n'
    )


@pytest.mark.parametrize(
    ("remote_host", "expected"),
    [
        ("example.com", "http://example.com:11434"),
        ("https://example.com/v1/", "https://example.com:11434/v1"),
        ("ollama.com", "https://ollama.com:443"),
        ("/api", "http://localhost:11434/api"),
    ],
)
def test_remote_host_is_normalised_like_remote_url(
    server: OllamaEmulator, remote_host: str, expected: str
) -> None:
    body = {"model": "remote", "from": "llama3", "remote_host": remote_host, "stream": False}
    assert _create(server, body).json() == {"status": "success"}
    _, manifest = _manifest(server, "remote")
    config = json.loads(server.store.blob_path(manifest.config.digest).read_bytes())
    assert (config["remote_host"], config["remote_model"]) == (expected, "llama3")


def test_draft_model_is_stored_and_described(
    client: ollama.Client, server: OllamaEmulator, gguf_digest: str, tmp_path: Path
) -> None:
    draft = client.create_blob(
        SyntheticGGUF(GGUFSpec(size_bytes=120_000, file_type="Q8_0", seed="draft")).write_to(
            tmp_path / "d.gguf"
        )
    )
    body = {"model": "x", "from": "tiny", "draft_files": {"d.gguf": draft}, "stream": False}
    assert _create(server, body).json() == {"status": "success"}
    _, manifest = _manifest(server, "x")
    assert manifest.layer("draft") is not None
    config = json.loads(server.store.blob_path(manifest.config.digest).read_bytes())
    assert config["draft"] == {"model_format": "gguf", "architecture": "llama"}
    quantized = {**body, "draft_quantize": "q4_k_m"}
    assert_error(
        _create(server, quantized),
        500,
        "draft quantization requires an unquantized draft model, got Q8_0",
        content_type=JSON_PLAIN,
    )
    remote = {"model": "y", "from": "a:cloud", "draft_files": {"d.gguf": draft}, "stream": False}
    assert_error(
        _create(server, remote), 400, "DRAFT cannot be used with remote models", content_type=JSON_PLAIN
    )


@pytest.mark.parametrize(
    ("license_value", "message"),
    [
        (5, "json: cannot unmarshal number into Go value of type []string"),
        (["MIT", True], "json: cannot unmarshal bool into Go value of type string"),
    ],
)
def test_license_that_is_not_text_fails_like_go(
    server: OllamaEmulator, license_value: Any, message: str
) -> None:
    response = _create(server, {"model": "x", "from": "tiny", "license": license_value, "stream": False})
    assert_error(response, 500, message, content_type=JSON_PLAIN)
