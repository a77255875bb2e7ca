"""The default model preparer: pull only what is missing, through the pull engine (progress, retries)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.pulling import PullRetryPolicy, missing
from airflow_provider_ollama.pulling.missing import pull_missing_models
from airflow_provider_ollama.server.preparation import ModelPreparer, PullModels
from airflow_provider_ollama.testing.emulator.server import OllamaEmulator
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


def test_pull_models_is_a_model_preparer():
    assert isinstance(PullModels(), ModelPreparer)


def test_only_missing_models_are_pulled(ollama_server, ollama_registry, pulled_model):
    hook = OllamaHook(base_url=ollama_server.url)
    other = ollama_registry.model_name("tiny-embed")
    pulled = pull_missing_models(hook, [pulled_model, other], insecure=True)
    assert list(pulled) == [other]
    assert pulled[other].startswith("sha256:")
    assert hook.has_model(other)


def test_a_pull_logs_layer_progress_with_its_rate_and_a_summary(
    caplog: pytest.LogCaptureFixture, ollama_server, ollama_registry: RegistryEmulator
):
    # Half the weights arrive, then a short stall: the server reports the layer part-way at least once.
    built = ollama_registry.catalogue.model("library/tiny")
    assert built is not None
    ollama_registry.faults.stall(digest=built.model_digest, seconds=0.3, times=1)
    caplog.set_level(logging.INFO, logger=missing.log.name)
    model = ollama_registry.model_name("tiny")

    pull_missing_models(OllamaHook(base_url=ollama_server.url), [model], insecure=True)

    lines = [record.getMessage() for record in caplog.records if record.name == missing.log.name]
    layer = f"pull {model}: layer {built.model_digest[7:19]}"
    assert any(line.startswith(layer) and " 50% " in line and "MB/s, ETA" in line for line in lines), lines
    assert any(line.startswith(f"Pulled {model} (") and "MB/s" in line for line in lines), lines


def test_a_registry_error_is_retried_like_the_pull_operators(
    ollama_emulator: OllamaEmulator, ollama_registry: RegistryEmulator
):
    ollama_registry.faults.error(503, kinds={"manifest"}, times=1)
    model = ollama_registry.model_name("tiny")
    hook = OllamaHook(base_url=ollama_emulator.url)
    pulled = pull_missing_models(hook, [model], insecure=True, policy=PullRetryPolicy(retry_delay=0.05))
    assert pulled == {model: hook.model_digest(model)}
    assert ollama_emulator.stats.counter("pulls") == 2
