"""Progress lines: one per tenth of a big enough batch, or after a quiet interval; never one per item."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_ollama.batch.progress import ProgressLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_a_line_is_logged_every_tenth_of_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = ProgressLog(logging.getLogger("p"), label="b", total=100, clock=clock)
    for _ in range(100):
        clock.now += 0.1
        progress.item_finished(failed=False, eval_tokens=5)

    assert len(lines(caplog)) == 9  # 10%..90%; the summary line covers 100%
    assert lines(caplog)[0] == "b: 10/100 items (10%), 0 failed, 10.0 items/s, 50.0 tokens/s, ETA 9 s"


@pytest.mark.parametrize(
    ("total", "already_done"),
    [pytest.param(7, 0, id="small batch"), pytest.param(100, 95, id="resumed batch with 5 left")],
)
def test_fewer_than_twenty_items_to_do_get_no_line_per_tenth(
    caplog: pytest.LogCaptureFixture, total: int, already_done: int
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = ProgressLog(
        logging.getLogger("p"), label="b", total=total, already_done=already_done, clock=clock
    )
    for _ in range(total - already_done):
        clock.now += 0.1
        progress.item_finished(failed=False, eval_tokens=5)

    assert lines(caplog) == []


def test_a_quiet_interval_logs_a_line_with_the_requests_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = ProgressLog(logging.getLogger("p"), label="b", total=100, every_seconds=30, clock=clock)

    clock.now = 29.0
    progress.tick(in_flight=8)
    assert lines(caplog) == []
    clock.now = 30.0
    progress.tick(in_flight=8)

    assert lines(caplog) == [
        "b: 0/100 items (0%), 0 failed, 8 in flight, 0.0 items/s, 0.0 tokens/s, ETA unknown"
    ]


def test_a_resumed_batch_counts_from_what_was_already_done(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    progress = ProgressLog(logging.getLogger("p"), label="b", total=100, already_done=50, clock=clock)
    for item in range(5):
        clock.now += 0.2
        progress.item_finished(failed=item == 0, eval_tokens=0)

    assert lines(caplog) == ["b: 55/100 items (55%), 1 failed, 5.0 items/s, 0.0 tokens/s, ETA 9 s"]
