"""No deprecation warnings from the provider: none at import, and any raised from our modules fails a test."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

# Imports every module of the package in a fresh interpreter (so import-time warnings fire), with
# Airflow itself imported first: what Airflow warns about its own start-up is not ours to fix.
_IMPORT_ALL = """
import importlib, pkgutil, warnings
import airflow.sdk, airflow.sdk.bases.hook, airflow.triggers.base
import airflow_provider_ollama

names = sorted(
    module.name
    for module in pkgutil.walk_packages(airflow_provider_ollama.__path__, "airflow_provider_ollama.")
    if not module.name.endswith("__main__")
)
for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
    warnings.simplefilter("error", category)
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:
        print(f"{name}: {type(error).__name__}: {error}")
print(f"imported {len(names)} modules")
"""


def test_every_module_imports_without_deprecation_warnings() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    *failures, summary = completed.stdout.strip().splitlines()
    assert summary.startswith("imported ")
    assert failures == []


def _airflow_warning_classes() -> list[type[Warning]]:
    from airflow.exceptions import AirflowProviderDeprecationWarning, RemovedInAirflow4Warning
    from airflow.utils.deprecation_tools import DeprecatedImportWarning

    return [AirflowProviderDeprecationWarning, RemovedInAirflow4Warning, DeprecatedImportWarning]


@pytest.mark.parametrize(
    "category",
    [DeprecationWarning, PendingDeprecationWarning, FutureWarning, *_airflow_warning_classes()],
    ids=lambda category: category.__name__,
)
def test_a_deprecation_raised_from_our_modules_fails_the_test(category: type[Warning]) -> None:
    """The suite's filterwarnings turn these into errors when our code triggers them."""
    with pytest.raises(category):
        warnings.warn_explicit(
            "deprecated", category, "ollama.py", 1, module="airflow_provider_ollama.hooks.ollama"
        )
