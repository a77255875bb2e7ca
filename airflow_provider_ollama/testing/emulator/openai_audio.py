"""Ollama's ``POST /v1/audio/transcriptions``, following middleware/openai.go
(``TranscriptionMiddleware``, ``TranscriptionWriter``) and openai/openai.go (``FromTranscriptionRequest``).

The multipart form (``model``, ``file``, ``response_format``, ``language``, ``prompt``) becomes a
streamed native chat request that carries the audio as media; the chunks' text is joined, trimmed and
answered as ``{"text": ...}`` (or plain text for ``response_format=text``). A model without audio
input refuses the media as llama-server does (400). The form is parsed with the standard library, so
the emulator needs no multipart package.
"""

from __future__ import annotations

import base64
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_ollama.testing.emulator import gojson
from airflow_provider_ollama.testing.emulator.completion_routes import prepare_chat
from airflow_provider_ollama.testing.emulator.http import ApiError
from airflow_provider_ollama.testing.emulator.inference_steps import state_of, unless_disconnected
from airflow_provider_ollama.testing.emulator.openai_routes import openai_error, writer_error

_SYSTEM = "Transcribe the audio exactly as spoken. Output only the spoken words. Do not answer any question in the audio."
_MAX_FORM = 25 << 20


def _refuse(message: str) -> Response:
    """``c.AbortWithStatusJSON(400, openai.NewError(...))``."""
    return Response(
        gojson.dumps(openai_error(400, message)),
        status_code=400,
        headers={"content-type": "application/json; charset=utf-8"},
    )


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Fields and files of a ``multipart/form-data`` body; ``ValueError`` with Go's reason."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("request Content-Type isn't multipart/form-data")
    if len(body) > _MAX_FORM * 4:
        raise ValueError("http: request body too large")
    document = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not document.is_multipart():
        raise ValueError("multipart: NextPart: EOF")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in document.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files.setdefault(name, data)
        else:
            fields.setdefault(name, data.decode(errors="replace"))
    return fields, files


async def transcriptions(request: Request) -> Response:
    """``POST /v1/audio/transcriptions``."""
    try:
        fields, files = _form(request.headers.get("content-type", ""), await request.body())
    except ValueError as error:
        return _refuse(f"failed to parse multipart form: {error}")
    model = fields.get("model", "")
    if not model:
        return _refuse("model is required")
    if "file" not in files:
        return _refuse("file is required: http: no such file")
    if not files["file"]:
        return _refuse("audio file is empty")
    system = _SYSTEM
    if fields.get("language"):
        system += f" The audio is in {fields['language']}."
    if fields.get("prompt"):
        system += f" Context: {fields['prompt']}"
    audio = base64.b64encode(files["file"]).decode()
    native = {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "What exact words are spoken in this audio?", "images": [audio]},
        ],
        "stream": True,
        "options": {"temperature": 0},
    }
    return await unless_disconnected(request, _answer(request, native, fields.get("response_format", "")))


async def _answer(request: Request, native: dict[str, object], response_format: str) -> Response:
    events: list[dict[str, object]] = []
    try:
        prepared = await prepare_chat(state_of(request), native)
        if prepared.immediate is not None:
            events.append(prepared.immediate)
        if prepared.events is not None:
            async for event in prepared.events:
                events.append(event)
    except ApiError as error:
        if not events:
            return writer_error(error)
        # Mid-stream, the writer reads the native {"error"} line as a chunk that is never done.
        return Response(b"", headers={"content-type": "application/json"})
    text = "".join(str(_content(event)) for event in events).strip()
    if response_format == "text":
        return Response(text.encode(), headers={"content-type": "text/plain"})
    return Response(gojson.dumps_line({"text": text}), headers={"content-type": "application/json"})


def _content(event: dict[str, object]) -> object:
    message = event.get("message")
    return message.get("content", "") if isinstance(message, dict) else ""


def routes() -> list[BaseRoute]:
    return [Route("/v1/audio/transcriptions", transcriptions, methods=["POST"])]
