"""Modelfile text becomes a checked spec, and every problem is reported with its line and a fix.

The tables hold good and bad Modelfiles, including (rewritten in our own values) every example
Modelfile of the seed documents and of reference/ollama-api.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import jinja2.sandbox
import pytest

from airflow_provider_ollama.modelfile import Message, ModelfileError, ModelfileSpec, parse_modelfile

# --- good Modelfiles, text only -------------------------------------------------------------------

GOOD = [
    pytest.param("FROM llama3.2\n", ModelfileSpec(from_model="llama3.2"), id="minimal"),
    pytest.param("FROM llama3.2", ModelfileSpec(from_model="llama3.2"), id="no-final-newline"),
    # seed 001 (Flyte): an inline Modelfile with a quoted SYSTEM.
    pytest.param(
        '\nFROM llama2\nPARAMETER temperature 0.7\nSYSTEM "Reply in one short paragraph."\n',
        ModelfileSpec(
            from_model="llama2", system="Reply in one short paragraph.", parameters={"temperature": 0.7}
        ),
        id="seed-001-inline",
    ),
    # seed 003 (talk) and Ollama's own docs: comments, blank lines and a bare SYSTEM.
    pytest.param(
        "FROM llama2\n"
        "# warmer sampling\n"
        "PARAMETER temperature 1\n"
        "# a longer context window\n"
        "PARAMETER num_ctx 4096\n"
        "\n"
        "# the persona\n"
        "SYSTEM You are a lighthouse keeper who answers in nautical terms.\n",
        ModelfileSpec(
            from_model="llama2",
            system="You are a lighthouse keeper who answers in nautical terms.",
            parameters={"temperature": 1.0, "num_ctx": 4096},
        ),
        id="seed-003-comments-and-bare-system",
    ),
    # seed 002 (connector): the generated Modelfile's instructions, without its ADAPTER.
    pytest.param(
        'FROM llama2:7b\n\nSYSTEM """You review Python code."""\n\n'
        'TEMPLATE """{{ .System }}\n\nUser: {{ .Prompt }}\nAssistant:"""\n\n'
        "PARAMETER temperature 0.7\nPARAMETER top_p 0.9\nPARAMETER top_k 40\n"
        "PARAMETER num_ctx 4096\nPARAMETER repeat_penalty 1.1\n",
        ModelfileSpec(
            from_model="llama2:7b",
            system="You review Python code.",
            template="{{ .System }}\n\nUser: {{ .Prompt }}\nAssistant:",
            parameters={
                "temperature": 0.7,
                "top_p": 0.9,
                "top_k": 40,
                "num_ctx": 4096,
                "repeat_penalty": 1.1,
            },
        ),
        id="seed-002-reference",
    ),
    pytest.param(
        'FROM llama3.2\nTEMPLATE """{{ if .System }}<|sys|>{{ .System }}<|end|>{{ end }}<|bot|>"""\n'
        'PARAMETER stop "<|sys|>"\nPARAMETER stop <|end|>\nPARAMETER stop "<|bot|>"\n',
        ModelfileSpec(
            from_model="llama3.2",
            template="{{ if .System }}<|sys|>{{ .System }}<|end|>{{ end }}<|bot|>",
            parameters={"stop": ["<|sys|>", "<|end|>", "<|bot|>"]},
        ),
        id="stop-collected-in-order",
    ),
    pytest.param(
        "FROM llama3.2\nMESSAGE user Is Lyon in France?\nMESSAGE assistant yes\n"
        "MESSAGE system Answer yes or no.\n",
        ModelfileSpec(
            from_model="llama3.2",
            messages=(
                Message("user", "Is Lyon in France?"),
                Message("assistant", "yes"),
                Message("system", "Answer yes or no."),
            ),
        ),
        id="messages",
    ),
    pytest.param(
        "from llama3.2\nParameter temperature 0.5\nsYsTeM hi\nmessage user hello\n",
        ModelfileSpec(
            from_model="llama3.2",
            system="hi",
            parameters={"temperature": 0.5},
            messages=(Message("user", "hello"),),
        ),
        id="instructions-case-insensitive",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM """He said "stop" and left."""\n',
        ModelfileSpec(from_model="llama3.2", system='He said "stop" and left.'),
        id="triple-quotes-embedded-quotes",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM """"Quoted" start and end "quoted""""\n',
        ModelfileSpec(from_model="llama3.2", system='"Quoted" start and end "quoted"'),
        id="triple-quotes-around-quotes",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM """\n  first\n\n  second "line"\n"""\n',
        ModelfileSpec(from_model="llama3.2", system='\n  first\n\n  second "line"\n'),
        id="triple-quotes-span-lines",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM "one\ntwo"\n',
        ModelfileSpec(from_model="llama3.2", system="one\ntwo"),
        id="double-quotes-span-lines",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM say "hi" please\n',
        ModelfileSpec(from_model="llama3.2", system='say "hi" please'),
        id="bare-value-keeps-quotes-inside",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM "a" b "c"\n',
        ModelfileSpec(from_model="llama3.2", system='a" b "c'),
        id="only-outer-quotes-stripped",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM "tab\\there"\n',
        ModelfileSpec(from_model="llama3.2", system="tab\\there"),
        id="no-escape-sequences",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM ""\n', ModelfileSpec(from_model="llama3.2", system=""), id="empty-quoted-value"
    ),
    pytest.param(
        "FROM llama3.2\nSYSTEM Use # for headings\n",
        ModelfileSpec(from_model="llama3.2", system="Use # for headings"),
        id="hash-inside-value-is-text",
    ),
    pytest.param(
        "   # indented comment\n\t\nFROM\tllama3.2   \n  PARAMETER \t seed\t42\n",
        ModelfileSpec(from_model="llama3.2", parameters={"seed": 42}),
        id="whitespace-and-tabs",
    ),
    pytest.param(
        'FROM llama3.2\r\nSYSTEM """a\r\nb"""\r\nPARAMETER seed 1\r\n',
        ModelfileSpec(from_model="llama3.2", system="a\r\nb", parameters={"seed": 1}),
        id="crlf-line-endings-kept-inside-values",
    ),
    pytest.param("\ufeffFROM llama3.2\n", ModelfileSpec(from_model="llama3.2"), id="byte-order-mark"),
    pytest.param(
        'FROM llama3.2\nLICENSE """Line one\nLine two"""\nLICENSE Apache-2.0\n',
        ModelfileSpec(from_model="llama3.2", license=("Line one\nLine two", "Apache-2.0")),
        id="license-repeats",
    ),
    pytest.param(
        "FROM llama3.2\nREQUIRES v0.14.0\nRENDERER qwen3-coder\nPARSER qwen3-coder\n",
        ModelfileSpec(from_model="llama3.2", requires="0.14.0", renderer="qwen3-coder", parser="qwen3-coder"),
        id="requires-renderer-parser",
    ),
    pytest.param(
        "FROM registry.example.com:5000/team/summariser:v2\n",
        ModelfileSpec(from_model="registry.example.com:5000/team/summariser:v2"),
        id="model-name-with-host-and-port",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER mirostat 1\nPARAMETER use_mlock true\n",
        ModelfileSpec(from_model="llama3.2"),
        id="deprecated-parameters-left-out",
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_modelfile_parses_to_expected_spec(text: str, expected: ModelfileSpec) -> None:
    assert parse_modelfile(text) == expected


def test_go_template_and_jinja_braces_survive_untouched() -> None:
    template = '{{- range .Messages }}{{ .Role }}: {{ .Content }}{{ end }}{% raw %}{{ "x" }}'
    spec = parse_modelfile(f'FROM llama3.2\nTEMPLATE """{template}"""\nSYSTEM {{{{ .System }}}}\n')
    assert spec.template == template
    assert spec.system == "{{ .System }}"


def test_go_template_survives_jinja_rendering_inside_a_raw_block() -> None:
    # Airflow renders a templated Modelfile with Jinja first; Go's {{ .System }} is a Jinja syntax
    # error, so a Modelfile with Go templates keeps them in {% raw %} ... {% endraw %}.
    text = (
        "FROM {{ params.base }}\n"
        'TEMPLATE """{% raw %}{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}{% endraw %}"""\n'
    )
    environment = jinja2.sandbox.SandboxedEnvironment()  # what Airflow renders templated fields with
    rendered = environment.from_string(text).render(params={"base": "llama3.2"})
    spec = parse_modelfile(rendered)
    assert spec.from_model == "llama3.2"
    assert spec.template == "{{ if .System }}{{ .System }}{{ end }}{{ .Prompt }}"


def test_every_parameter_type_is_typed_as_ollama_types_it() -> None:
    spec = parse_modelfile(
        "FROM llama3.2\n"
        "PARAMETER num_ctx 8192\nPARAMETER num_batch 512\nPARAMETER num_gpu -1\nPARAMETER main_gpu 0\n"
        "PARAMETER use_mmap false\nPARAMETER num_thread 4\nPARAMETER num_keep 24\nPARAMETER seed -7\n"
        "PARAMETER num_predict 128\nPARAMETER draft_num_predict 4\nPARAMETER top_k 40\n"
        "PARAMETER top_p 0.95\nPARAMETER min_p .05\nPARAMETER typical_p 1\nPARAMETER repeat_last_n 64\n"
        "PARAMETER temperature 2e-1\nPARAMETER repeat_penalty 1.1\nPARAMETER presence_penalty -0.5\n"
        "PARAMETER frequency_penalty +0.25\nPARAMETER stop END\n"
    )
    assert spec.parameters == {
        "num_ctx": 8192,
        "num_batch": 512,
        "num_gpu": -1,
        "main_gpu": 0,
        "use_mmap": False,
        "num_thread": 4,
        "num_keep": 24,
        "seed": -7,
        "num_predict": 128,
        "draft_num_predict": 4,
        "top_k": 40,
        "top_p": 0.95,
        "min_p": 0.05,
        "typical_p": 1.0,
        "repeat_last_n": 64,
        "temperature": 0.2,
        "repeat_penalty": 1.1,
        "presence_penalty": -0.5,
        "frequency_penalty": 0.25,
        "stop": ["END"],
    }
    kinds = {name: type(value) for name, value in spec.parameters.items()}
    assert kinds["typical_p"] is float
    assert kinds["use_mmap"] is bool
    assert kinds["num_ctx"] is int


def test_deprecated_parameter_is_logged_with_its_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        parse_modelfile("FROM llama3.2\nPARAMETER penalize_newline true\n")
    assert "line 2: parameter penalize_newline is deprecated" in caplog.text


# --- bad Modelfiles, text only --------------------------------------------------------------------

Expected = list[tuple[int | None, str]]

BAD = [
    pytest.param("", [(None, "no FROM line")], id="empty"),
    pytest.param("# nothing but a comment\n\n", [(None, "no FROM line")], id="comment-only"),
    pytest.param(
        "FORM llama3.2\n",
        [(None, "no FROM line"), (1, "unknown instruction 'FORM'")],
        id="unknown-instruction",
    ),
    pytest.param(
        "FROM llama3.2\nSYSTEM: hi\n", [(2, "unknown instruction 'SYSTEM:'")], id="instruction-with-colon"
    ),
    pytest.param(
        'FROM llama3.2\nPROMPT """a\nSYSTEM b\n"""\nSYSTEM real\n',
        [(2, "unknown instruction 'PROMPT'")],
        id="unknown-instruction-value-skipped-whole",
    ),
    pytest.param("FROM\n", [(1, "FROM has no value")], id="from-without-value"),
    pytest.param("FROM llama3.2\nSYSTEM\n", [(2, "SYSTEM has no value")], id="system-without-value"),
    pytest.param(
        "FROM llama3.2\nFROM qwen2.5\n", [(2, "more than one FROM (first on line 1)")], id="two-froms"
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER num_ctx abc\n",
        [(2, "num_ctx expects an integer, got 'abc'")],
        id="int-mistyped",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER temperature warm\n",
        [(2, "temperature expects a number, got 'warm'")],
        id="float-mistyped",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER use_mmap yes\n", [(2, "use_mmap expects true or false")], id="bool-mistyped"
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER num_ctxx 4096\n",
        [(2, "unknown parameter 'num_ctxx'")],
        id="unknown-parameter",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER Temperature 1\n",
        [(2, "unknown parameter 'Temperature'")],
        id="parameter-names-are-case-sensitive",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER temperature\n",
        [(2, "PARAMETER temperature has no value")],
        id="no-param-value",
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER\n", [(2, "PARAMETER has no name and no value")], id="bare-parameter"
    ),
    pytest.param(
        "FROM llama3.2\nPARAMETER seed 1\nPARAMETER seed 2\n",
        [(3, "parameter seed is set more than once (first on line 2)")],
        id="scalar-parameter-twice",
    ),
    pytest.param(
        "FROM llama3.2\nMESSAGE tool {}\n", [(2, "invalid MESSAGE role 'tool'")], id="message-role-tool"
    ),
    pytest.param(
        "FROM llama3.2\nMESSAGE User hi\n", [(2, "invalid MESSAGE role 'User'")], id="message-role-case"
    ),
    pytest.param(
        "FROM llama3.2\nMESSAGE user\n", [(2, "MESSAGE user has no value")], id="message-no-content"
    ),
    pytest.param(
        "FROM llama3.2\nSYSTEM a\nSYSTEM b\n",
        [(3, "SYSTEM appears more than once (first on line 2)")],
        id="two-systems",
    ),
    pytest.param(
        "FROM llama3.2\nREQUIRES latest\n",
        [(2, "REQUIRES 'latest' is not a version")],
        id="requires-not-semver",
    ),
    pytest.param(
        "FROM Llama 3\n", [(1, "'Llama 3' is neither a valid model name nor a path")], id="bad-model-name"
    ),
    pytest.param(
        "FROM llama3.2 # the base\n",
        [(1, "'llama3.2 # the base' is neither a valid model name nor a path")],
        id="trailing-comment-is-part-of-value",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM """never closed\nmore text\n',
        [(2, 'unterminated quote: the value opened with """')],
        id="unterminated-triple-quote",
    ),
    pytest.param(
        'FROM llama3.2\nSYSTEM "never closed\n',
        [(2, 'the value opened with " on this line')],
        id="unterminated-quote",
    ),
    pytest.param(
        'SYSTEM """swallows the rest\nFROM llama3.2\n',
        [(1, "unterminated quote")],
        id="unterminated-quote-hides-from-so-no-missing-from",
    ),
    # seed 001 (Flyte): str.format placeholders are not Modelfile syntax; Airflow renders Jinja instead.
    pytest.param(
        '\nFROM {inputs.model_version}\nPARAMETER temperature {inputs.temp}\nSYSTEM "Be helpful."\n',
        [(2, "neither a valid model name nor a path"), (3, "temperature expects a number")],
        id="seed-001-placeholders",
    ),
    # seed 004 (Transformer Lab): a GGUF path that is not on this machine.
    pytest.param(
        "FROM /Users/someone/.local/models/llama3.2.gguf\n",
        [(1, "FROM /Users/someone/.local/models/llama3.2.gguf does not exist")],
        id="seed-004-missing-gguf",
    ),
    # seed 002 (connector): its generated Modelfile names an adapter that is not on this machine.
    pytest.param(
        'FROM llama2:7b\n\nADAPTER /srv/adapters/reviewer.safetensors\n\nSYSTEM """You review code."""\n'
        "PARAMETER temperature 0.7\n",
        [(3, "ADAPTER /srv/adapters/reviewer.safetensors does not exist")],
        id="seed-002-missing-adapter",
    ),
    # reference/ollama-api.md: `ollama show` output; its FROM is a blob path of another machine.
    pytest.param(
        "# written by a tool\n# replace FROM with a model name to build on it\n\n"
        "FROM /home/someone/.ollama/models/blobs/sha256-" + "ab" * 32 + "\n"
        'TEMPLATE """{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: """\n'
        'PARAMETER num_ctx 4096\nPARAMETER stop "</s>"\nPARAMETER stop "USER:"\nPARAMETER stop "ASSISTANT:"\n',
        [(4, "does not exist")],
        id="api-md-show-output",
    ),
    pytest.param(
        "FORM llama3.2\nPARAMETER num_ctx big\nPARAMETER top_k 1.5\nMESSAGE bot hi\nSYSTEM a\nSYSTEM b\n",
        [
            (None, "no FROM line"),
            (1, "unknown instruction"),
            (2, "num_ctx expects an integer"),
            (3, "top_k expects an integer"),
            (4, "invalid MESSAGE role 'bot'"),
            (6, "SYSTEM appears more than once"),
        ],
        id="all-problems-reported-in-line-order",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_modelfile_reports_every_problem_with_its_line(text: str, expected: Expected) -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile(text)
    found = [(problem.line, problem.message) for problem in caught.value.problems]
    assert len(found) == len(expected), found
    for (line, message), (expected_line, fragment) in zip(found, expected, strict=True):
        assert line == expected_line, found
        assert fragment in message, found
    assert all(problem.hint for problem in caught.value.problems)


@pytest.mark.smoke
def test_error_message_names_source_line_and_fix() -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM llama3.2\nPARAMETER num_ctx abc\n", source="dags/Modelfile")
    assert str(caught.value) == (
        "dags/Modelfile: line 2: parameter num_ctx expects an integer, got 'abc' "
        "(fix: write an integer, e.g. PARAMETER num_ctx 42)"
    )


def test_modelfile_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no FROM line"):
        parse_modelfile("SYSTEM hi\n")


def test_placeholder_hint_points_to_jinja() -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM {inputs.model}\n")
    assert "Jinja" in caught.value.problems[0].hint


# --- local files ----------------------------------------------------------------------------------


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    (directory / "weights.gguf").write_bytes(b"GGUF" + bytes(16))
    (directory / "lora.gguf").write_bytes(b"GGUF" + bytes(8))
    (directory / "draft.gguf").write_bytes(b"GGUF" + bytes(4))
    return directory


FILE_CASES: list[tuple[str, str, Callable[[Path], ModelfileSpec]]] = [
    ("dot-slash", "FROM ./weights.gguf\n", lambda d: ModelfileSpec(from_files=(d / "weights.gguf",))),
    ("bare-existing-file", "FROM weights.gguf\n", lambda d: ModelfileSpec(from_files=(d / "weights.gguf",))),
    (
        "dot-dot-inside",
        "FROM ../models/weights.gguf\n",
        lambda d: ModelfileSpec(from_files=(d / "weights.gguf",)),
    ),
    (
        "adapter-and-draft",
        "FROM llama3.2\nADAPTER lora.gguf\nDRAFT ./draft.gguf\n",
        lambda d: ModelfileSpec(
            from_model="llama3.2", adapters=(d / "lora.gguf",), draft_files=(d / "draft.gguf",)
        ),
    ),
    ("directory", "FROM .\n", lambda d: ModelfileSpec(from_files=(d,))),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in FILE_CASES])
def test_local_paths_resolve_against_base_dir(
    model_dir: Path, text: str, expected: Callable[[Path], ModelfileSpec]
) -> None:
    assert parse_modelfile(text, base_dir=model_dir) == expected(model_dir)


def test_api_md_show_output_parses_once_its_blob_exists(tmp_path: Path) -> None:
    blob = tmp_path / ("sha256-" + "ab" * 32)
    blob.write_bytes(b"GGUF")
    spec = parse_modelfile(
        f'FROM {blob}\nTEMPLATE """{{{{ .System }}}}\nUSER: {{{{ .Prompt }}}}\nASSISTANT: """\n'
        'PARAMETER num_ctx 4096\nPARAMETER stop "</s>"\nPARAMETER stop "USER:"\nPARAMETER stop "ASSISTANT:"\n'
    )
    assert spec.from_files == (blob,)
    assert spec.template == "{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: "
    assert spec.parameters == {"num_ctx": 4096, "stop": ["</s>", "USER:", "ASSISTANT:"]}


def test_seed_002_generated_modelfile_parses_with_its_adapter(tmp_path: Path) -> None:
    adapter = tmp_path / "reviewer.safetensors"
    adapter.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    spec = parse_modelfile(
        f'FROM llama2:7b\n\nADAPTER {adapter}\n\nSYSTEM """You review code."""\n\n'
        'TEMPLATE """{{ .System }}\n\nUser: {{ .Prompt }}\nAssistant:"""\n\nPARAMETER top_k 40\n'
    )
    assert spec.adapters == (adapter,)
    assert spec.from_model == "llama2:7b"


def test_home_relative_path_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    assert parse_modelfile("FROM ~/w.gguf\n").from_files == (tmp_path / "w.gguf",)


def test_relative_path_without_base_dir_asks_for_one() -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM ./weights.gguf\n")
    problem = caught.value.problems[0]
    assert problem.line == 1
    assert "has no directory to be relative to" in problem.message
    assert "base_dir" in problem.hint


def test_bare_weights_file_name_that_does_not_exist_is_not_taken_for_a_model(model_dir: Path) -> None:
    with pytest.raises(ModelfileError, match=r"line 1: FROM .*missing\.gguf does not exist"):
        parse_modelfile("FROM missing.gguf\n", base_dir=model_dir)


def test_path_escaping_base_dir_with_dot_dot_is_refused(model_dir: Path) -> None:
    (model_dir.parent / "secret.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM ../secret.gguf\n", base_dir=model_dir)
    assert caught.value.problems[0].line == 1
    assert "is outside the Modelfile's directory" in caught.value.problems[0].message


def test_path_escaping_base_dir_through_symlink_is_refused(model_dir: Path) -> None:
    outside = model_dir.parent / "elsewhere.gguf"
    outside.write_bytes(b"GGUF")
    (model_dir / "innocent.gguf").symlink_to(outside)
    with pytest.raises(ModelfileError, match=r"line 2: ADAPTER .*innocent\.gguf is outside"):
        parse_modelfile("FROM llama3.2\nADAPTER ./innocent.gguf\n", base_dir=model_dir)


def test_absolute_path_outside_base_dir_is_refused_unless_allowed(model_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared.gguf"
    outside.write_bytes(b"GGUF")
    with pytest.raises(ModelfileError, match="outside the Modelfile's directory"):
        parse_modelfile(f"FROM {outside}\n", base_dir=model_dir)
    spec = parse_modelfile(f"FROM {outside}\n", base_dir=model_dir, confine_to_base_dir=False)
    assert spec.from_files == (outside,)


def test_symlink_inside_base_dir_keeps_its_own_name(model_dir: Path) -> None:
    (model_dir / "alias.gguf").symlink_to(model_dir / "weights.gguf")
    assert parse_modelfile("FROM alias.gguf\n", base_dir=model_dir).from_files == (model_dir / "alias.gguf",)


def test_more_than_one_adapter_is_refused_with_ollamas_message(model_dir: Path) -> None:
    (model_dir / "lora2.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM llama3.2\nADAPTER lora.gguf\nADAPTER lora2.gguf\n", base_dir=model_dir)
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (3, "only one adapter is currently supported (first on line 2)")
    ]


def test_draft_may_not_be_the_from_file(model_dir: Path) -> None:
    with pytest.raises(ModelfileError, match=r"line 2: DRAFT .* is the same path as FROM"):
        parse_modelfile("FROM weights.gguf\nDRAFT ./weights.gguf\n", base_dir=model_dir)


def test_missing_and_escaping_files_are_reported_together(model_dir: Path) -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile("FROM ./nope.gguf\nADAPTER /etc/hostname\n", base_dir=model_dir)
    messages = [(p.line, p.message) for p in caught.value.problems]
    assert messages[0][0] == 1
    assert "does not exist" in messages[0][1]
    assert messages[1][0] == 2
    assert "outside" in messages[1][1]


def test_directory_without_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no weights here")
    with pytest.raises(ModelfileError, match=r"line 1: FROM directory .* holds no model weights"):
        parse_modelfile("FROM .\n", base_dir=tmp_path)


# --- speed ----------------------------------------------------------------------------------------


def test_thousand_line_modelfile_parses_fast(record_property: Callable[[str, object], None]) -> None:
    body = "".join(f"PARAMETER stop token{i}\nMESSAGE user question {i}\n# note {i}\n" for i in range(333))
    text = f'FROM llama3.2\nTEMPLATE """{"{{ .Prompt }}" * 10}"""\n{body}'
    assert text.count("\n") >= 1000
    started = time.perf_counter()
    spec = parse_modelfile(text)
    elapsed = time.perf_counter() - started
    record_property("parse_seconds_1000_lines", elapsed)
    print(f"parsed {text.count(chr(10))} lines in {elapsed * 1000:.1f} ms")
    assert len(spec.messages) == 333
    # Measured around 5 ms; the bound only catches an accidental quadratic blow-up.
    assert elapsed < 1.0
