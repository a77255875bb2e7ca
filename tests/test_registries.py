"""``[ollama] insecure_registries``: plain-HTTP registries are configured once, the way Docker's are."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.get_provider_info import get_provider_info
from airflow_provider_ollama.registries import (
    ENVIRONMENT_VARIABLE,
    insecure_for,
    insecure_registries,
    is_insecure_registry,
)


@pytest.mark.parametrize(
    ("host", "entries", "listed"),
    [
        ("registry.lab:8080", ["registry.lab:8080"], True),
        ("registry.lab:8080", ["registry.lab"], True),  # a host without a port: any of its ports
        ("registry.lab", ["registry.lab:8080"], False),  # a port given: only that one
        ("registry.lab:9090", ["registry.lab:8080"], False),
        ("Registry.Lab:8080", ["registry.lab:8080"], True),  # names are case-insensitive
        ("10.1.2.3:5000", ["10.0.0.0/8"], True),  # a network: every address in it, any port
        ("192.168.1.1:5000", ["10.0.0.0/8"], False),
        ("registry.lab:5000", ["10.0.0.0/8"], False),  # a name is never inside a network
        ("registry.ollama.ai", [], False),
    ],
)
def test_a_registry_is_insecure_when_its_host_port_host_or_network_is_listed(
    host: str, entries: list[str], listed: bool
) -> None:
    assert is_insecure_registry(host, entries) is listed


def test_a_network_entry_that_is_not_one_names_the_option_and_the_forms_it_takes() -> None:
    with pytest.raises(ValueError, match=r"\[ollama\] insecure_registries .* 'lab/8080'.*host:port"):
        is_insecure_registry("registry.lab", ["lab/8080"])


def test_the_option_is_read_from_airflows_environment_variable_on_each_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, " 127.0.0.1:5000 , registry.lab,")
    assert insecure_registries() == ["127.0.0.1:5000", "registry.lab"]
    assert insecure_for("registry.lab:443/team/model:v1") is True
    assert insecure_for("127.0.0.1:5000/library/tiny") is True
    assert insecure_for("127.0.0.1:5001/library/tiny") is False
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "")
    assert insecure_for("registry.lab/team/model") is False


def test_a_flag_given_for_the_call_wins_and_a_bad_name_is_left_to_ollama(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert insecure_for("registry.lab/team/model", insecure=True) is True
    assert insecure_for("not a name") is False


def test_the_option_is_declared_in_the_provider_info_with_an_example() -> None:
    option = get_provider_info()["config"]["ollama"]["options"]["insecure_registries"]
    assert option["default"] == ""
    assert is_insecure_registry("registry.lab:8080", option["example"].split(","))
