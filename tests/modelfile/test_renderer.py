"""Rendered Modelfiles are canonical and parse back to the same spec: parse(render(x)) == x."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ollama.modelfile import (
    MESSAGE_ROLES,
    PARAMETER_TYPES,
    Message,
    ModelfileError,
    ModelfileSpec,
    ParameterType,
    build_spec,
    parse_modelfile,
    render_modelfile,
)
from airflow_provider_ollama.modelfile.syntax import quote


@pytest.mark.smoke
def test_rendered_text_is_canonical() -> None:
    spec = build_spec(
        from_model="llama3.2",
        system='Say "yes" or "no".',
        template="{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: ",
        parameters={"temperature": 0.2, "num_ctx": 4096, "stop": ["USER:", " end "]},
        messages=[("user", "Is ice cold?"), {"role": "assistant", "content": "yes"}],
        license=["MIT", "Line one\nLine two"],
        requires="0.14.0",
    )
    assert render_modelfile(spec) == (
        "FROM llama3.2\n"
        "REQUIRES 0.14.0\n"
        "PARAMETER temperature 0.2\n"
        "PARAMETER num_ctx 4096\n"
        "PARAMETER stop USER:\n"
        'PARAMETER stop " end "\n'
        'TEMPLATE """{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: """\n'
        'SYSTEM Say "yes" or "no".\n'
        "MESSAGE user Is ice cold?\n"
        "MESSAGE assistant yes\n"
        "LICENSE MIT\n"
        'LICENSE """Line one\nLine two"""\n'
    )
    assert parse_modelfile(render_modelfile(spec)) == spec


def test_local_files_render_as_absolute_paths_and_read_back(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF")
    spec = build_spec(from_files=["w.gguf"], adapters=["./lora.gguf"], base_dir=tmp_path)
    text = render_modelfile(spec)
    assert text == f"FROM {tmp_path / 'w.gguf'}\nADAPTER {tmp_path / 'lora.gguf'}\n"
    assert parse_modelfile(text, base_dir=tmp_path) == spec


def test_relative_path_renders_with_dot_slash_so_it_stays_a_path() -> None:
    assert render_modelfile(ModelfileSpec(from_files=(Path("w.gguf"),))) == "FROM ./w.gguf\n"


def test_unwritable_value_is_refused_naming_the_instruction() -> None:
    spec = ModelfileSpec(from_model="llama3.2", system='ends in quotes"""\nthen more')
    with pytest.raises(ModelfileError, match=r"the value of SYSTEM cannot be written in a Modelfile"):
        render_modelfile(spec)


# --- property: any representable spec survives the round trip -------------------------------------

_TRICKY = st.sampled_from(
    ['"', '""', '"""', "\n", "\r\n", "\r", " ", "\t", "#", "{{ .Prompt }}", "é", "\u2028", "a"]
)
_text = st.one_of(st.text(max_size=40), st.lists(_TRICKY, max_size=12).map("".join)).filter(
    lambda value: quote(value) is not None
)
_names = st.sampled_from(
    ["llama3.2", "llama3.2:1b", "team/summariser:v2", "127.0.0.1:5000/ns/m:t", "qwen2.5"]
)
_by_type = {
    ParameterType.INTEGER: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ParameterType.NUMBER: st.floats(
        allow_nan=False, allow_infinity=False, min_value=-3.4e38, max_value=3.4e38
    ),
    ParameterType.BOOLEAN: st.booleans(),
    ParameterType.STRING_LIST: st.lists(_text, min_size=1, max_size=4),
}
_parameters = st.lists(st.sampled_from(sorted(PARAMETER_TYPES)), unique=True, max_size=8).flatmap(
    lambda names: st.fixed_dictionaries({name: _by_type[PARAMETER_TYPES[name]] for name in names})
)
_specs = st.builds(
    ModelfileSpec,
    from_model=_names,
    template=st.none() | _text,
    system=st.none() | _text,
    license=st.lists(_text, max_size=3).map(tuple),
    parameters=_parameters,
    messages=st.lists(st.builds(Message, role=st.sampled_from(MESSAGE_ROLES), content=_text), max_size=4).map(
        tuple
    ),
    requires=st.none() | st.sampled_from(["0.14.0", "1", "1.2", "0.5.5-rc1.2+build.7"]),
    renderer=st.none() | _text,
    parser=st.none() | _text,
)
_settings = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@_settings
@given(_specs)
def test_parse_of_render_gives_back_the_spec(spec: ModelfileSpec) -> None:
    assert parse_modelfile(render_modelfile(spec)) == spec


@_settings
@given(_specs)
def test_render_is_stable_after_one_round_trip(spec: ModelfileSpec) -> None:
    text = render_modelfile(spec)
    assert render_modelfile(parse_modelfile(text)) == text


_fragments = st.sampled_from(
    [
        "FROM llama3.2\n",
        "FROM ./x.gguf\n",
        "from ",
        "PARAMETER ",
        "num_ctx ",
        "stop ",
        "MESSAGE ",
        "user ",
        "SYSTEM ",
        '"""',
        '"',
        "\n",
        "\r",
        "# c\n",
        "x",
        " ",
        "\t",
        "\x00",
        "{{ }}",
        "ADAPTER ",
        "REQUIRES 1\n",
    ]
)


@_settings
@given(st.lists(_fragments, max_size=30).map("".join))
def test_any_text_parses_or_raises_modelfile_error(text: str) -> None:
    problems = []
    try:
        spec = parse_modelfile(text)
    except ModelfileError as error:
        problems = error.problems
    if problems:
        assert all(problem.hint for problem in problems)
    else:
        assert spec.from_model is not None or spec.from_files
