"""Parameter values are typed like Ollama's server types them, and bad ones are refused with a fix."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.modelfile.parameters import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    ParameterType,
    ParameterValueError,
    check_option,
    parameter_text,
    parse_parameter,
)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("num_ctx", "4096", 4096),
        ("seed", "-42", -42),
        ("seed", "+7", 7),
        ("seed", "-9223372036854775808", -(2**63)),
        ("temperature", "0.7", 0.7),
        ("temperature", "1", 1.0),
        ("top_p", ".5", 0.5),
        ("top_p", "5.", 5.0),
        ("min_p", "5e-2", 0.05),
        ("use_mmap", "true", True),
        ("use_mmap", "T", True),
        ("use_mmap", "1", True),
        ("use_mmap", "False", False),
        ("use_mmap", "0", False),
        ("stop", "<|end|>", "<|end|>"),
    ],
)
def test_value_is_typed_as_the_server_types_it(name: str, text: str, expected: object) -> None:
    value = parse_parameter(name, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("num_ctx", "4k"),
        ("num_ctx", "4096.0"),
        ("num_ctx", "1_000"),
        ("num_ctx", "9223372036854775808"),
        ("num_ctx", ""),
        ("num_ctx", "٤"),  # a non-ASCII digit Python's int() would accept
        ("temperature", "nan"),
        ("temperature", "inf"),
        ("temperature", "1e39"),
        ("temperature", "0,7"),
        ("use_mmap", "yes"),
        ("use_mmap", "TrUe"),
    ],
)
def test_mistyped_value_is_refused_with_an_example(name: str, text: str) -> None:
    with pytest.raises(ParameterValueError) as caught:
        parse_parameter(name, text)
    assert caught.value.message.startswith(f"parameter {name} expects ")
    assert f"PARAMETER {name} " in caught.value.hint


def test_unknown_name_suggests_the_closest_parameter() -> None:
    with pytest.raises(ParameterValueError) as caught:
        parse_parameter("tempreature", "1")
    assert caught.value.message == "unknown parameter 'tempreature'"
    assert caught.value.hint.startswith("did you mean 'temperature'?")


def test_options_the_server_dropped_are_unknown() -> None:
    # The Python client's Options still lists these; the server refuses them in a Modelfile.
    for name in ("numa", "tfs_z"):
        with pytest.raises(ParameterValueError, match="unknown parameter"):
            parse_parameter(name, "1")


def test_deprecated_parameters_are_not_in_the_type_table() -> None:
    assert not DEPRECATED_PARAMETERS & PARAMETER_TYPES.keys()
    assert PARAMETER_TYPES["stop"] is ParameterType.STRING_LIST


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (4096, "4096"), (0.1, "0.1"), (1e-7, "1e-07"), ("x", "x")],
)
def test_python_value_text_reads_back_as_the_same_value(value: object, text: str) -> None:
    assert parameter_text(value) == text


def test_python_value_of_another_type_is_refused() -> None:
    with pytest.raises(ParameterValueError, match="is a dict"):
        parameter_text({"a": 1})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("num_predict", 64),
        ("num_predict", 64.0),  # JSON has one number type; the server truncates
        ("temperature", 0),
        ("temperature", 0.7),
        ("use_mmap", False),
        ("stop", ["<|end|>", "\n\n"]),
        ("seed", None),  # the server skips nulls
        ("no_such_option", "anything"),  # the server ignores names it does not know
    ],
)
def test_request_options_of_the_servers_types_pass(name: str, value: object) -> None:
    check_option(name, value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("num_predict", "ten", "option 'num_predict' expects an integer, got 'ten'"),
        ("num_ctx", True, "option 'num_ctx' expects an integer, got True"),
        ("top_p", "0.9", "option 'top_p' expects a number, got '0.9'"),
        ("use_mmap", "true", "option 'use_mmap' expects true or false, got 'true'"),
        ("stop", "END", "option 'stop' expects a list of strings, got 'END'"),
        ("stop", ["END", 7], "option 'stop' expects a list of strings"),
    ],
)
def test_request_options_of_another_type_are_refused_naming_the_option(
    name: str, value: object, expected: str
) -> None:
    with pytest.raises(ParameterValueError) as raised:
        check_option(name, value)
    assert expected in raised.value.message
    assert f"options={{{name!r}: " in raised.value.hint
