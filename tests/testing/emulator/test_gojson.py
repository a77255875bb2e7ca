"""Go-compatible JSON: the decoder's error messages and the encoder's bytes, which clients compare."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_ollama.testing.emulator import gojson


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b"{", "unexpected EOF"),
        (b'{"model":', "unexpected EOF"),
        (b'{"model": "a" "b"}', "invalid character '\"' after object key:value pair"),
        (b"{model}", "invalid character 'm' looking for beginning of object key string"),
        (b'{"model" 1}', "invalid character '1' after object key"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b'{"a":tru}', "invalid character '}' in literal true (expecting 'e')"),
        (b'{"a":"\x01"}', "invalid character '\\x01' in string literal"),
        (b'{"a":-}', "invalid character '}' in numeric literal"),
        (b'{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
        (b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b'"text"x', "invalid character 'x' after top-level value"),
    ],
)
def test_malformed_bodies_get_gos_decoder_message(body: bytes, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.loads_request(body)
    assert str(caught.value) == message


@pytest.mark.parametrize("body", [b"", b"  \n\t"])
def test_an_empty_body_is_end_of_file(body: bytes) -> None:
    with pytest.raises(EOFError):
        gojson.loads_request(body)


def test_text_after_the_first_value_is_ignored_like_decoder_decode() -> None:
    assert gojson.loads_request(b'{"model":"tiny"} trailing') == {"model": "tiny"}


def test_dumps_is_compact_and_html_safe_like_json_marshal() -> None:
    encoded = gojson.dumps({"stop": ["<|eot|>", "a&b"], "text": "é\n\u2028"})
    assert encoded == b'{"stop":["\\u003c|eot|\\u003e","a\\u0026b"],"text":"\xc3\xa9\\n\\u2028"}'


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (0.7, "0.7"),
        (1e-7, "1e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-0.0, "-0"),
    ],
)
def test_floats_are_formatted_like_go(number: float, text: str) -> None:
    assert gojson.format_float(number) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (40.0, "40"),
        (0.7, "0.7"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        ("<|eot_id|>", '"<|eot_id|>"'),
        (True, "true"),
    ],
)
def test_percent_hash_v_matches_go(value: object, text: str) -> None:
    assert gojson.format_go_value(value) == text


def test_go_quote_escapes_like_strconv_quote() -> None:
    assert gojson.go_quote('say "hi"\n\x01é') == '"say \\"hi\\"\\n\\x01é"'


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0012345, "1.2345ms"), (0.000012, "12µs"), (62.5, "1m2.5s"), (3600, "1h0m0s")],
)
def test_durations_print_like_go(seconds: float, text: str) -> None:
    assert gojson.format_duration(seconds) == text


def test_times_are_rfc3339_with_nanoseconds_and_z_for_utc() -> None:
    assert gojson.format_time_ns(1_700_000_000_123_456_789, utc=True) == "2023-11-14T22:13:20.123456789Z"
    assert (
        gojson.format_time(datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)) == "2023-11-14T22:13:20Z"
    )


def test_float32_values_encode_with_float32_precision() -> None:
    single = 9.999999747378752e-06  # 1e-5 as a GGUF float32
    assert gojson.dumps(gojson.shortest_float32(single)) == b"0.00001"
