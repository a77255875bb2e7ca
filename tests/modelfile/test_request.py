"""A spec becomes the exact JSON body of Ollama's current /api/create, local files as blob digests."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_provider_ollama.modelfile import build_spec, parse_modelfile, to_create_request
from airflow_provider_ollama.names import InvalidModelNameError
from airflow_provider_ollama.store import file_digest

OPENAPI = Path(__file__).resolve().parents[1] / "testing" / "emulator" / "data" / "ollama-openapi.yaml"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


@pytest.mark.smoke
def test_model_based_spec_maps_every_field() -> None:
    spec = parse_modelfile(
        "FROM llama3.2\nREQUIRES 0.14.0\nRENDERER r1\nPARSER p1\nPARAMETER temperature 0.3\n"
        "PARAMETER stop A\nPARAMETER stop B\nTEMPLATE {{ .Prompt }}\nSYSTEM Be brief.\n"
        "MESSAGE user hi\nMESSAGE assistant hello\nLICENSE MIT\nLICENSE extra terms\n"
    )
    assert to_create_request(spec, model="team/brief:v1", blob_digests={}) == {
        "model": "team/brief:v1",
        "from": "llama3.2",
        "template": "{{ .Prompt }}",
        "system": "Be brief.",
        "requires": "0.14.0",
        "renderer": "r1",
        "parser": "p1",
        "license": ["MIT", "extra terms"],
        "parameters": {"temperature": 0.3, "stop": ["A", "B"]},
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    }


def test_minimal_spec_sends_only_model_and_from() -> None:
    body = to_create_request(build_spec(from_model="llama3.2"), model="m", blob_digests={})
    assert body == {"model": "m", "from": "llama3.2"}


def test_local_files_become_file_name_to_digest_maps(tmp_path: Path) -> None:
    (tmp_path / "weights.gguf").write_bytes(b"GGUF-weights")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF-lora")
    (tmp_path / "draft.gguf").write_bytes(b"GGUF-draft")
    spec = parse_modelfile("FROM weights.gguf\nADAPTER lora.gguf\nDRAFT draft.gguf\n", base_dir=tmp_path)
    digests = {path: file_digest(path)[0] for path in spec.local_files()}
    body = to_create_request(spec, model="local", blob_digests=digests)
    assert body == {
        "model": "local",
        "files": {"weights.gguf": digests[tmp_path / "weights.gguf"]},
        "adapters": {"lora.gguf": digests[tmp_path / "lora.gguf"]},
        "draft_files": {"draft.gguf": digests[tmp_path / "draft.gguf"]},
    }


def test_directory_files_are_named_by_their_path_inside_it(tmp_path: Path) -> None:
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"x")
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"y")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tokenizer.model").write_bytes(b"t")
    spec = parse_modelfile("FROM .\n", base_dir=tmp_path)
    digests = dict.fromkeys(spec.local_files(), DIGEST_A)
    body = to_create_request(spec, model="st", blob_digests=digests)
    assert body["files"] == {
        "model-00001-of-00002.safetensors": DIGEST_A,
        "model-00002-of-00002.safetensors": DIGEST_A,
        "config.json": DIGEST_A,
        "sub/tokenizer.model": DIGEST_A,
    }


def test_dash_spelled_digest_is_normalised(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = parse_modelfile("FROM w.gguf\n", base_dir=tmp_path)
    body = to_create_request(spec, model="m", blob_digests={tmp_path / "w.gguf": "sha256-" + "B" * 64})
    assert body["files"] == {"w.gguf": DIGEST_B}


def test_missing_digest_names_the_file_to_upload(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = parse_modelfile("FROM w.gguf\n", base_dir=tmp_path)
    with pytest.raises(
        ValueError, match=r"no blob digest for .*w\.gguf: upload every path of spec.local_files"
    ):
        to_create_request(spec, model="m", blob_digests={})


def test_invalid_model_name_is_refused_before_building() -> None:
    with pytest.raises(InvalidModelNameError):
        to_create_request(build_spec(from_model="llama3.2"), model="bad name", blob_digests={})


def test_body_is_json_and_matches_ollamas_openapi_schema(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = parse_modelfile(
        'FROM w.gguf\nPARAMETER stop "x"\nPARAMETER use_mmap true\nMESSAGE system s\nLICENSE """a\nb"""\n',
        base_dir=tmp_path,
    )
    body = to_create_request(spec, model="m", blob_digests={tmp_path / "w.gguf": DIGEST_A})
    document = yaml.safe_load(OPENAPI.read_text())
    schema = {"$ref": "#/components/schemas/CreateRequest", "components": document["components"]}
    jsonschema.validate(json.loads(json.dumps(body)), schema)
