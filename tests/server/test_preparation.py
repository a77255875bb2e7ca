"""The default model preparer: pull only what is missing, and log pull progress in a few lines."""

from __future__ import annotations

import logging

import ollama

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.server.preparation import (
    ModelPreparer,
    PullModels,
    PullProgressLog,
    pull_missing_models,
)


def test_pull_models_is_a_model_preparer():
    assert isinstance(PullModels(), ModelPreparer)


def test_progress_of_a_large_layer_is_logged_every_ten_percent(caplog):
    caplog.set_level(logging.INFO, logger="test.progress")
    progress = PullProgressLog("llama3.2:1b", logger=logging.getLogger("test.progress"))
    total = 2_000_000_000
    for completed in range(0, total + 1, total // 1000):
        progress(
            ollama.ProgressResponse(
                status="pulling abc", digest="sha256:" + "a" * 64, total=total, completed=completed
            )
        )
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 11
    assert "  0%" in lines[0]
    assert "100% (2.0 GB of 2.0 GB)" in lines[-1]


def test_status_lines_without_a_layer_are_left_to_the_hook(caplog):
    caplog.set_level(logging.INFO, logger="test.progress")
    progress = PullProgressLog("tiny", logger=logging.getLogger("test.progress"))
    progress(ollama.ProgressResponse(status="verifying sha256 digest"))
    progress(ollama.ProgressResponse(status="success"))
    assert caplog.records == []


def test_only_missing_models_are_pulled(ollama_server, ollama_registry, pulled_model):
    hook = OllamaHook(base_url=ollama_server.url)
    other = ollama_registry.model_name("tiny-embed")
    pulled = pull_missing_models(hook, [pulled_model, other], insecure=True)
    assert list(pulled) == [other]
    assert pulled[other].startswith("sha256:")
    assert hook.has_model(other)
