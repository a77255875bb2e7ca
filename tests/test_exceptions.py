"""The error family: a class named in a trigger event maps back to the class, and only within the family."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.exceptions import (
    OllamaAuthError,
    OllamaError,
    OllamaPullError,
    OllamaServerNotReadyError,
    OllamaTimeoutError,
    error_class_named,
)


def test_a_family_class_is_found_by_name():
    assert error_class_named("OllamaAuthError") is OllamaAuthError
    assert error_class_named("OllamaServerNotReadyError") is OllamaServerNotReadyError


@pytest.mark.parametrize(
    "name", [None, 42, "SystemExit", "AirflowException", "OllamaHook", "error_class_named"]
)
def test_anything_else_falls_back_to_the_family_base(name):
    assert error_class_named(name) is OllamaError


def test_the_fallback_can_be_a_narrower_class_of_the_family():
    assert error_class_named("SystemExit", default=OllamaPullError) is OllamaPullError
    assert error_class_named("OllamaAuthError", default=OllamaPullError) is OllamaAuthError


def test_a_wait_that_ran_out_is_a_timeout():
    assert issubclass(OllamaServerNotReadyError, OllamaTimeoutError)
