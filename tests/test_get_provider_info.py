"""Provider info: valid for Airflow's own schema, every class path importable, the form Airflow shows."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_provider_ollama.get_provider_info import get_provider_info
from airflow_provider_ollama.hooks import _form
from airflow_provider_ollama.hooks._connection import (
    DEFAULT_REQUEST_TIMEOUT,
    EXTRA_FIELDS,
    MAX_CONNECT_TIMEOUT,
)

DISTRIBUTION = "airflow-provider-ollama"


def _airflow_schema() -> dict[str, Any]:
    import airflow

    schema_path = Path(airflow.__file__).with_name("provider_info.schema.json")
    assert schema_path.exists(), f"Airflow ships no {schema_path}: reinstall apache-airflow"
    return dict(json.loads(schema_path.read_text()))


def _class_paths(info: dict[str, Any]) -> Iterator[str]:
    """Every dotted path provider info names: modules and classes."""
    for connection_type in info.get("connection-types", []):
        yield connection_type["hook-class-name"]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(section, []):
            yield from entry.get("python-modules", [])
    for decorator in info.get("task-decorators", []):
        yield decorator["class-name"]


def _import_path(dotted: str) -> object:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attribute = dotted.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


@pytest.mark.smoke
def test_provider_info_validates_against_airflows_schema() -> None:
    jsonschema.validate(get_provider_info(), _airflow_schema())


def test_every_class_path_in_provider_info_imports() -> None:
    paths = list(_class_paths(get_provider_info()))
    assert "airflow_provider_ollama.hooks.ollama.OllamaHook" in paths
    for dotted in paths:
        assert _import_path(dotted) is not None, dotted


def test_every_public_module_of_the_listed_kinds_is_listed() -> None:
    info = get_provider_info()
    package = Path(importlib.import_module("airflow_provider_ollama").__file__ or "").parent
    for section in ("hooks", "operators", "sensors", "triggers"):
        listed = {module for entry in info[section] for module in entry["python-modules"]}
        public = {
            f"airflow_provider_ollama.{section}.{path.stem}"
            for path in (package / section).glob("*.py")
            if not path.name.startswith("_")
        }
        assert listed == public, section


def test_the_host_blob_cache_option_is_declared_with_the_default_the_code_uses() -> None:
    from airflow.providers.common.compat.sdk import conf

    from airflow_provider_ollama.cache.host_cache import DEFAULT_HOST_CACHE_DIR

    option = get_provider_info()["config"]["ollama"]["options"]["host_blob_cache_dir"]
    assert option["default"] == str(DEFAULT_HOST_CACHE_DIR)
    assert conf.get("ollama", "host_blob_cache_dir") == str(DEFAULT_HOST_CACHE_DIR)


def test_package_name_and_entry_point_match_the_distribution() -> None:
    info = get_provider_info()
    assert info["package-name"] == DISTRIBUTION
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [point for point in entry_points if point.dist and point.dist.name == DISTRIBUTION]
    assert [point.value for point in ours] == ["airflow_provider_ollama.get_provider_info:get_provider_info"]


def test_provider_info_imports_nothing_of_airflow() -> None:
    """Airflow loads provider info while its own configuration starts: importing Airflow back would cycle."""
    probe = (
        "import sys; from airflow_provider_ollama.get_provider_info import get_provider_info; "
        "get_provider_info(); print(sorted(m for m in sys.modules if m.split('.')[0] in {'airflow', 'ollama'}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    assert completed.stdout.strip() == "[]"


def test_conn_fields_are_exactly_the_extras_the_hook_reads() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["connection-type"] == "ollama"
    assert set(connection_type["conn-fields"]) == set(EXTRA_FIELDS)


def test_form_descriptions_quote_the_hooks_real_defaults() -> None:
    description = _form.CONN_FIELDS["request_timeout"]["description"]
    assert f"Default {DEFAULT_REQUEST_TIMEOUT:g};" in description
    assert f"after {MAX_CONNECT_TIMEOUT:g} s" in description


def test_connection_form_hides_login_and_schema_and_relabels_the_password() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    behaviour = connection_type["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["schema", "login"]
    assert behaviour["relabeling"]["password"] == "Bearer token (optional)"
    assert behaviour["placeholders"]["host"] == "http://ollama:11434"


@pytest.mark.smoke
def test_the_ui_gets_the_ollama_form_without_deprecation_warnings() -> None:
    """What the connection form is drawn from: provider info on 3.2+, the hook's classmethods on 3.1."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        HookMetaService.hook_meta_data.cache_clear()
        metadata = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
    ollama = metadata["ollama"]
    assert ollama.hook_name == "Ollama"
    assert ollama.hook_class_name == "airflow_provider_ollama.hooks.ollama.OllamaHook"
    assert ollama.standard_fields is not None
    assert ollama.standard_fields.login is not None
    assert ollama.standard_fields.login.hidden
    assert ollama.standard_fields.password is not None
    assert ollama.standard_fields.password.title == "Bearer token (optional)"
    assert ollama.extra_fields is not None
    assert set(ollama.extra_fields) == set(EXTRA_FIELDS)


def test_airflow_cli_lists_the_provider_and_the_ollama_connection_type() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    outputs = {}
    for command in ("list", "hooks"):
        completed = subprocess.run(
            [str(airflow), "providers", command, "--output", "json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            check=False,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        outputs[command] = json.loads(completed.stdout)
    providers = {row["package_name"]: row for row in outputs["list"]}
    assert providers[DISTRIBUTION]["version"] == get_provider_info()["versions"][0]
    hooks = {row["connection_type"]: row for row in outputs["hooks"]}
    assert hooks["ollama"]["class"] == "airflow_provider_ollama.hooks.ollama.OllamaHook"
