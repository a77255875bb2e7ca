"""build_spec checks structured arguments exactly like Modelfile lines, and lists local files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_ollama.modelfile import (
    Message,
    ModelfileError,
    build_spec,
    parse_modelfile,
)


def test_build_equals_parsing_the_same_modelfile() -> None:
    built = build_spec(
        from_model="llama3.2",
        system="Be brief.",
        template="{{ .Prompt }}",
        parameters={"temperature": 1, "num_ctx": "4096", "use_mmap": True, "stop": "END"},
        messages=[Message("user", "hi"), ("assistant", "hello")],
        license="MIT",
        requires="v0.14.0",
        renderer="r",
        parser="p",
    )
    parsed = parse_modelfile(
        "FROM llama3.2\nSYSTEM Be brief.\nTEMPLATE {{ .Prompt }}\nPARAMETER temperature 1\n"
        "PARAMETER num_ctx 4096\nPARAMETER use_mmap true\nPARAMETER stop END\nMESSAGE user hi\n"
        "MESSAGE assistant hello\nLICENSE MIT\nREQUIRES 0.14.0\nRENDERER r\nPARSER p\n"
    )
    assert built == parsed
    assert built.parameters["temperature"] == 1.0
    assert isinstance(built.parameters["temperature"], float)


def test_build_reports_every_bad_argument_at_once() -> None:
    with pytest.raises(ModelfileError) as caught:
        build_spec(
            from_model="Not A Name",
            parameters={"num_ctx": 4096.5, "top_k": [1, 2], "colour": 1, "stop": {"x": 1}},
            messages=[("robot", "beep")],
        )
    messages = [problem.message for problem in caught.value.problems]
    assert messages == [
        "FROM 'Not A Name' is neither a valid model name nor a path",
        "parameter num_ctx expects an integer, got '4096.5'",
        "parameter top_k takes one value, got a list",
        "unknown parameter 'colour'",
        "parameter value {'x': 1} is a dict for parameter stop",
        "invalid MESSAGE role 'robot'",
    ]
    assert all(problem.line is None for problem in caught.value.problems)
    assert str(caught.value).startswith("structured arguments: 6 problems")


def test_build_needs_exactly_one_base(tmp_path: Path) -> None:
    with pytest.raises(ModelfileError, match="no FROM line"):
        build_spec(system="orphan")
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelfileError, match="more than one FROM"):
        build_spec(from_model="llama3.2", from_files=["w.gguf"], base_dir=tmp_path)


def test_build_reads_from_files_as_paths_even_without_dot_slash(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = build_spec(from_files=[Path("w.gguf")], base_dir=tmp_path)
    assert spec.from_files == (tmp_path / "w.gguf",)


def test_build_from_model_is_never_read_as_a_path(tmp_path: Path) -> None:
    (tmp_path / "llama3.2").mkdir()
    spec = build_spec(from_model="llama3.2", base_dir=tmp_path)
    assert spec.from_model == "llama3.2"


def test_local_files_expand_directories_and_skip_duplicates(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"w")
    (weights / "config.json").write_text("{}")
    (weights / "README.md").write_text("not uploaded")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF")
    spec = build_spec(from_files=["weights"], adapters=["lora.gguf"], base_dir=tmp_path)
    assert spec.local_files() == (
        weights / "model.safetensors",
        weights / "config.json",
        tmp_path / "lora.gguf",
    )
    assert spec.local_sources() == (weights, tmp_path / "lora.gguf")


def test_model_based_spec_has_no_local_files() -> None:
    assert build_spec(from_model="llama3.2").local_files() == ()


def test_local_files_report_a_directory_emptied_since_parsing(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"w")
    spec = parse_modelfile("FROM .\n", base_dir=tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelfileError, match="holds no model weights"):
        spec.local_files()


def test_to_dict_is_json_native(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = build_spec(
        from_files=["w.gguf"], parameters={"stop": ["a", "b"], "seed": 3}, license="MIT", base_dir=tmp_path
    )
    data = spec.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["from_files"] == [str(tmp_path / "w.gguf")]
    assert data["parameters"] == {"stop": ["a", "b"], "seed": 3}


def test_spec_is_frozen_and_hashable() -> None:
    spec = build_spec(from_model="llama3.2", parameters={"stop": "x"})
    with pytest.raises(AttributeError):
        spec.system = "changed"  # type: ignore[misc]
    assert hash(spec) == hash(build_spec(from_model="llama3.2", parameters={"stop": "x"}))
