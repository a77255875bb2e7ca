"""The Ollama connection in Airflow's own UI: the form's fields, saving it, and its Test button.

A real ``airflow api-server`` and Debian's chromium (through Playwright) against the emulator, which
demands the bearer token, so a green test proves host, port and token all reached the server.
Set ``UPDATE_DOCS_SCREENSHOTS=1`` to refresh the README's screenshots in docs/.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from airflow_provider_ollama.testing.pytest_plugin import EmulatorFactory
from tests.support.dag_runs import REPO_ROOT
from tests.ui.api_server import ADMIN_USER, AirflowApiServer
from tests.ui.browser import launched_chromium

# Tests that run whole Airflow servers share one xdist group: on two cores, two at once starve each other.
pytestmark = [pytest.mark.ui, pytest.mark.airflow, pytest.mark.xdist_group("airflow_servers")]

CONN_ID = "ollama_ui"
TOKEN = "s3cret-ui-token"
STEP_TIMEOUT_MS = 30_000
DOCS = REPO_ROOT / "docs"


def test_connection_form_saves_an_ollama_connection_whose_test_button_reports_both_outcomes(
    tmp_path: Path, ollama_emulator_factory: EmulatorFactory
) -> None:
    emulator = ollama_emulator_factory(required_token=TOKEN)
    with AirflowApiServer(tmp_path) as server, launched_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        _log_in(page, server)
        dialog = _fill_new_connection(page, port=emulator.port)
        _screenshot(dialog, tmp_path / "connection-form-extras.png")
        dialog.get_by_role("button", name="Standard Fields", exact=True).click()
        expect(dialog.get_by_label("Host (URL)")).to_be_visible()
        _screenshot(dialog, tmp_path / "connection-form.png")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()

        assert _stored_connection(server)["extra"] == {
            "request_timeout": 30,
            "verify_ssl": True,
            "extra_headers": '{"X-Team": "ml"}',
            "keep_alive": "5m",
        }

        success = _press_test(page)
        expect(success).to_contain_text("Test Connection Successful")
        expect(success).to_contain_text(f"Connected to Ollama {emulator.settings.version} at {emulator.url}.")

        emulator.stop()
        failure = _press_test(page)
        expect(failure).to_contain_text(f"Cannot connect to Ollama at {emulator.url}")
        expect(failure).to_contain_text("Is `ollama serve` running there and reachable from this worker?")
        assert TOKEN not in page.content()
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        for name in ("connection-form.png", "connection-form-extras.png"):
            shutil.copyfile(tmp_path / name, DOCS / name)


def _log_in(page: Page, server: AirflowApiServer) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")


def _fill_new_connection(page: Page, *, port: int) -> Locator:
    """Admin > Connections > Add, type Ollama, every field filled; the Extra Fields section left open."""
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    dialog.get_by_role("combobox", name="Connection Type").fill("Ollama")
    page.get_by_role("option", name="Ollama", exact=True).click()
    # Host and port in their own fields: Airflow 3.3's Test button sends an empty port as 0, which
    # it then refuses as "a different endpoint", so a connection tested from the list needs a port.
    dialog.get_by_label("Host (URL)").fill("http://127.0.0.1")
    dialog.get_by_label("Port").fill(str(port))
    dialog.get_by_label("Bearer token (optional)").fill(TOKEN)
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    dialog.get_by_label("Request timeout (seconds)").fill("30")
    expect(dialog.get_by_label("Verify TLS certificate")).to_be_checked()
    # Airflow's text inputs for custom fields are not tied to their labels; their names are stable.
    dialog.locator('input[name="element_extra_headers"]').fill('{"X-Team": "ml"}')
    dialog.locator('input[name="element_keep_alive"]').fill("5m")
    return dialog


def _press_test(page: Page) -> Locator:
    """Press the row's Test Connection button; the toast it raises."""
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    with page.expect_response("**/api/v2/connections/test") as answer:
        row.get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, answer.value.text()
    return page.locator('[data-scope="toast"][data-part="root"]').last


def _stored_connection(server: AirflowApiServer) -> dict[str, Any]:
    """The connection as the REST API returns it, extra parsed."""
    token_request = urllib.request.Request(
        f"{server.url}/auth/token",
        data=json.dumps({"username": ADMIN_USER, "password": server.password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(token_request, timeout=30) as response:
        access_token = json.load(response)["access_token"]
    request = urllib.request.Request(
        f"{server.url}/api/v2/connections/{CONN_ID}", headers={"Authorization": f"Bearer {access_token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        connection: dict[str, Any] = json.load(response)
    connection["extra"] = json.loads(connection["extra"])
    return connection


def _screenshot(dialog: Locator, path: Path) -> None:
    dialog.screenshot(path=str(path), animations="disabled")
