"""Request field decoders reproduce Ollama's Go unmarshalers: values accepted and messages refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_provider_ollama.testing.emulator import inference_fields as fields
from airflow_provider_ollama.testing.emulator.http import ApiError


def refused(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value.status, caught.value.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (300, 300.0),
        (0.5, 0.5),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("0", 0.0),
        (-1.0, -1.0),
        ("-5m", -1.0),
    ],
)
def test_keep_alive_values(value: Any, seconds: float | None) -> None:
    assert fields.keep_alive_seconds(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("soon", 'time: invalid duration "soon"'),
        (True, "Unsupported type: 'bool'"),
        ([1], "Unsupported type: '[]interface {}'"),
        ("5d", 'time: unknown unit "d" in duration "5d"'),
    ],
)
def test_keep_alive_refusals(value: Any, message: str) -> None:
    assert refused(fields.keep_alive_seconds, value) == (400, message)


def test_think_values_and_levels() -> None:
    assert [fields.think_value(v) for v in (None, True, False, "low", "max")] == [
        None,
        True,
        False,
        "low",
        "max",
    ]
    assert [fields.think_level(v) for v in (None, False, True, "high")] == [None, None, "medium", "high"]
    assert refused(fields.think_value, 3) == (
        400,
        'think must be a boolean or string ("high", "medium", "low", "max", true, or false)',
    )


def test_images_must_be_strict_base64() -> None:
    good = base64.b64encode(b"\x89PNG").decode()
    assert fields.images([good], "GenerateRequest") == [good]
    assert refused(fields.images, ["abc"], "GenerateRequest") == (400, "illegal base64 data at input byte 0")
    assert refused(fields.images, ["ab$d"], "GenerateRequest") == (400, "illegal base64 data at input byte 2")
    assert refused(fields.images, [1], "GenerateRequest") == (
        400,
        "json: cannot unmarshal number into Go struct field GenerateRequest.images of type api.ImageData",
    )


def test_context_must_be_integers() -> None:
    assert fields.token_context([1, 2.0]) == [1, 2]
    assert refused(fields.token_context, ["a"]) == (
        400,
        "json: cannot unmarshal string into Go struct field GenerateRequest.context of type int",
    )


def test_request_options_override_model_parameters_with_ollamas_types() -> None:
    merged = fields.merged_options(
        {"stop": ["</s>"], "temperature": 0.7, "num_ctx": 512},
        {"temperature": 0, "num_predict": 8.7, "stop": ["\n"], "unknown": "ignored", "main_gpu": 1},
    )
    assert merged == {"stop": ["\n"], "temperature": 0.0, "num_ctx": 512, "num_predict": 8, "main_gpu": 1}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "1"}, 'option "seed" must be of type integer'),
        ({"top_p": "high"}, 'option "top_p" must be of type float32'),
        ({"use_mmap": 1}, 'option "use_mmap" must be of type boolean'),
        ({"stop": 5}, 'option "stop" must be of type array'),
        ({"stop": "\n"}, 'option "stop" must be of type array'),
        ({"main_gpu": True}, 'option "main_gpu" must be of type integer'),
        ({"stop": ["a", 1]}, 'option "stop" must be of an array of strings'),
    ],
)
def test_mistyped_options_are_a_500(options: dict[str, Any], message: str) -> None:
    assert refused(fields.merged_options, {}, options) == (500, message)
