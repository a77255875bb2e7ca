"""The format option: accepted values, meta-schema check, and how responses are parsed and validated."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.batch import ResponseFormatError, validate_format
from airflow_provider_ollama.batch.formats import ResponseParser

SCHEMA = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}


@pytest.mark.parametrize("value", [None, "", "json"])
def test_off_and_json_are_accepted(value: object) -> None:
    assert validate_format(value) == value


def test_a_valid_schema_is_accepted() -> None:
    assert validate_format(SCHEMA) == SCHEMA


def test_an_unknown_format_string_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"format='yaml' is not supported: use 'json'.*JSON Schema dict"):
        validate_format("yaml")


def test_a_schema_that_breaks_the_meta_schema_is_refused_with_its_location() -> None:
    with pytest.raises(ValueError, match=r"not a valid JSON Schema: .* at properties/age/type"):
        validate_format({"type": "object", "properties": {"age": {"type": "integr"}}})


def test_a_list_is_not_a_format() -> None:
    with pytest.raises(ValueError, match="not list"):
        validate_format(["json"])


def test_plain_text_responses_stay_text() -> None:
    assert ResponseParser(None).parse("{not json") == "{not json"


def test_json_responses_are_parsed() -> None:
    assert ResponseParser("json").parse('{"a": [1, 2]}') == {"a": [1, 2]}


def test_invalid_json_is_a_format_error_with_a_preview() -> None:
    with pytest.raises(
        ResponseFormatError, match=r"not valid JSON \(Expecting value at position 0\): 'Sure! '"
    ):
        ResponseParser("json").parse("Sure! ")


def test_schema_responses_must_conform() -> None:
    parser = ResponseParser(SCHEMA)
    assert parser.parse('{"age": 3}') == {"age": 3}
    with pytest.raises(ResponseFormatError, match="'age' is a required property at \\(root\\)"):
        parser.parse("{}")
