"""``POST /v1/audio/transcriptions`` (middleware/openai.go ``TranscriptionMiddleware``), by the
official ``openai`` client and raw multipart HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.testing.emulator.conftest import Emulator

MULTIMODAL = "Multimodal data provided, but model does not support multimodal requests."


@pytest.fixture
def oai(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emulator.url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def _post(emulator: Emulator, **kwargs: object) -> httpx.Response:
    return httpx.post(emulator.url + "/v1/audio/transcriptions", timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"json": {"model": "tiny"}},
            "failed to parse multipart form: request Content-Type isn't multipart/form-data",
        ),
        ({"data": {"x": "1"}, "files": {"file": ("a.wav", b"RIFF")}}, "model is required"),
        (
            {"data": {"model": "tiny"}, "files": {"other": ("a.wav", b"RIFF")}},
            "file is required: http: no such file",
        ),
        ({"data": {"model": "tiny"}, "files": {"file": ("a.wav", b"")}}, "audio file is empty"),
    ],
)
def test_form_checks_are_400_openai_errors(
    emulator: Emulator, kwargs: dict[str, object], message: str
) -> None:
    response = _post(emulator, **kwargs)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_model_without_audio_input_refuses_like_llama_server(
    oai: openai.OpenAI, emulator: Emulator
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.audio.transcriptions.create(model="tiny", file=("a.wav", b"RIFF....WAVE"))
    assert MULTIMODAL in str(caught.value)
    missing = _post(emulator, data={"model": "nope"}, files={"file": ("a.wav", b"RIFF")})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "model 'nope' not found"
