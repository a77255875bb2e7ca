"""``_debug_render_only`` and template failures at request time (server/routes.go ``GenerateHandler``,
``ChatHandler``): the prompt is rendered and answered instead of generated."""

from __future__ import annotations

import json
import re

from tests.testing.emulator.conftest import Emulator

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def test_generate_answers_the_rendered_prompt_without_generating(emulator: Emulator) -> None:
    response = emulator.post("/api/generate", {"model": "tiny", "prompt": "Why?", "_debug_render_only": True})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["model", "created_at", "response", "done", "_debug_info"]
    assert (body["model"], body["response"], body["done"]) == ("tiny", "", False)
    assert "Why?" in body["_debug_info"]["rendered_template"]
    assert "image_count" not in body["_debug_info"]  # omitempty


def test_chat_answers_the_rendered_conversation(emulator: Emulator) -> None:
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Why?"}]
    body = emulator.post(
        "/api/chat", {"model": "tiny", "messages": messages, "_debug_render_only": True}
    ).json()
    rendered = body["_debug_info"]["rendered_template"]
    assert rendered.index("Be terse.") < rendered.index("Why?")
    assert body["message"] == {"role": "", "content": ""}


def test_a_template_go_cannot_parse_fails_the_request_with_500(emulator: Emulator) -> None:
    response = emulator.post(
        "/api/generate",
        {"model": "tiny", "prompt": "hi", "template": "{{ if .Prompt }}never closed", "stream": False},
    )
    assert response.status_code == 500
    assert re.match(r"template: ", json.loads(response.text)["error"])
