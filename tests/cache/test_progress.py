"""Tests for airflow_provider_ollama.cache.progress: progress lines on a timer, silence for small blobs."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_ollama.cache.progress import TransferProgress

LOGGER = logging.getLogger("tests.cache.progress")


def test_a_big_transfer_logs_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    progress = TransferProgress(LOGGER, "restoring", "model blob", 1000, interval=3600, min_size=0)

    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        for _ in range(100):
            progress(10)

    assert progress.transferred == 1000
    assert caplog.records == []


def test_a_progress_line_says_percent_and_sizes(caplog: pytest.LogCaptureFixture) -> None:
    progress = TransferProgress(LOGGER, "restoring", "model blob", 4 << 20, interval=0, min_size=0)

    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        progress(1 << 20)

    assert caplog.messages[0].startswith("restoring model blob: 25% (1.0 MiB of 4.0 MiB")


def test_a_small_transfer_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    progress = TransferProgress(LOGGER, "saving", "template blob", 100, interval=0)

    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        progress(100)

    assert caplog.records == []
