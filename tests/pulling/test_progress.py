"""PullProgressReporter: lines every tenth or interval per layer, stall lines, and the end-of-pull summary."""

from __future__ import annotations

import logging

import ollama
import pytest

from airflow_provider_ollama.pulling.progress import PullProgressReporter, format_eta

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
MB = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reporter(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> PullProgressReporter:
    caplog.set_level(logging.INFO)
    return PullProgressReporter("tiny", logger=logging.getLogger("pull-test"), interval=10, clock=clock)


def _layer(completed: int, total: int = 100 * MB, digest: str = DIGEST) -> ollama.ProgressResponse:
    return ollama.ProgressResponse(
        status=f"pulling {digest[7:19]}", digest=digest, total=total, completed=completed
    )


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "pull-test"]


def test_a_layer_gets_a_line_per_tenth_not_per_report(
    reporter: PullProgressReporter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for completed in range(0, 100 * MB + 1, MB // 2):  # 201 reports, 50 ms apart
        reporter(_layer(completed))
        clock.now += 0.05
    lines = _lines(caplog)
    assert len(lines) == 11  # 0 %, 10 % ... 90 %, done
    assert lines[5].startswith("pull tiny: layer abababababab  50% of 100.0 MB at 10.0 MB/s, ETA 5s")
    assert lines[-1] == "pull tiny: layer abababababab 100% of 100.0 MB, done in 10.0 s (10.0 MB/s)"


def test_a_layer_without_a_new_tenth_gets_a_line_per_interval_saying_it_stalled(
    reporter: PullProgressReporter, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reporter(_layer(45 * MB))
    for _ in range(100):  # 25 s of reports without a byte
        clock.now += 0.25
        reporter(_layer(45 * MB))
    lines = _lines(caplog)
    assert len(lines) == 3
    assert lines[1].endswith("no progress for 10.0 s")
    assert lines[2].endswith("no progress for 20.0 s")
    assert reporter.stalled_layer() == "layer abababababab at 45% of 100.0 MB"


def test_blobs_the_server_already_has_get_no_lines(
    reporter: PullProgressReporter, caplog: pytest.LogCaptureFixture
) -> None:
    reporter(_layer(100 * MB))
    reporter(_layer(5 * MB, total=5 * MB, digest=OTHER))
    assert _lines(caplog) == []
    assert reporter.total_bytes == 105 * MB
    assert reporter.downloaded_bytes == 0


def test_phases_are_logged_once_per_attempt(
    reporter: PullProgressReporter, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        reporter(ollama.ProgressResponse(status="verifying sha256 digest"))
    reporter.new_attempt()
    reporter(ollama.ProgressResponse(status="verifying sha256 digest"))
    assert _lines(caplog) == ["pull tiny: verifying sha256 digest"] * 2


def test_a_retry_keeps_counting_where_the_download_resumed(reporter: PullProgressReporter) -> None:
    reporter(_layer(0))
    reporter(_layer(40 * MB))
    reporter.new_attempt()
    reporter(_layer(40 * MB))
    reporter(_layer(100 * MB))
    assert reporter.downloaded_bytes == 100 * MB


def test_the_summary_says_pulled_updated_or_already_up_to_date(
    reporter: PullProgressReporter, clock: FakeClock
) -> None:
    new, old = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    reporter(_layer(0))
    clock.now += 4
    reporter(_layer(100 * MB))
    assert reporter.summary(new, None) == (
        f"Pulled tiny ({new}, 100.0 MB): 100.0 MB downloaded in 4.0 s (25.0 MB/s)"
    )
    assert reporter.summary(new, old).startswith(f"Updated (was {old[:19]}…) tiny")
    assert reporter.summary(new, new) == f"tiny is already up to date ({new}, 100.0 MB); checked in 4.0 s"


def test_the_summary_takes_the_models_size_from_the_server_when_given(reporter: PullProgressReporter) -> None:
    reporter(_layer(100 * MB))
    assert "(sha256:" in reporter.summary("sha256:" + "1" * 64, None, model_size=150 * MB)
    assert reporter.summary("sha256:" + "1" * 64, None, model_size=150 * MB).endswith(", 150.0 MB) in 0.0 s")


def test_a_layer_is_done_when_the_server_moves_on_without_a_final_report(
    reporter: PullProgressReporter, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    # Ollama's last report of a download can stop short of the total: the next layer (or phase)
    # is what says it finished.
    reporter(_layer(0))
    clock.now += 2
    reporter(_layer(70 * MB))
    reporter(ollama.ProgressResponse(status="verifying sha256 digest"))
    lines = _lines(caplog)
    assert lines[-2].startswith("pull tiny: layer abababababab 100% of 100.0 MB, done in 2.0 s")
    assert lines[-1] == "pull tiny: verifying sha256 digest"
    assert reporter.downloaded_bytes == 100 * MB


def test_the_summary_gives_no_rate_when_no_download_was_seen(reporter: PullProgressReporter) -> None:
    reporter(_layer(100 * MB))
    assert reporter.summary("sha256:" + "1" * 64, None).endswith("100.0 MB) in 0.0 s")


def test_the_stall_phrase_says_when_the_server_sent_nothing(reporter: PullProgressReporter) -> None:
    assert reporter.stalled_layer() == "the server sent nothing"


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59, "59s"), (75, "1m15s"), (4000, "1h06m")])
def test_eta_reads_like_a_clock(seconds: float, text: str) -> None:
    assert format_eta(seconds) == text
