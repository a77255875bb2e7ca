"""Tests for airflow_provider_ollama.cache.reports: XCom-ready dicts and one-line summaries."""

from __future__ import annotations

import json

from airflow_provider_ollama.cache import RestoreReport, SaveReport


def test_restore_report_dict_is_json_with_hit_and_throughput() -> None:
    report = RestoreReport(
        model="llama3.2:1b", location="s3://b/p", status="hit", bytes_downloaded=500_000_000, seconds=2.0
    )

    as_dict = report.to_dict()

    assert json.loads(json.dumps(as_dict)) == as_dict
    assert (as_dict["hit"], as_dict["mb_per_s"]) == (True, 250.0)


def test_throughput_is_zero_when_nothing_moved() -> None:
    assert SaveReport(model="m:latest", location="s3://b", seconds=0.0).megabytes_per_second == 0.0
    assert RestoreReport(model="m:latest", location="s3://b", seconds=3.0).megabytes_per_second == 0.0


def test_summary_is_one_line_with_the_error() -> None:
    report = SaveReport(model="m:latest", location="s3://b", status="failed", error="bucket 'b' is gone")

    assert report.summary() == "S3 model cache save of m:latest to s3://b: failed: bucket 'b' is gone"
    assert "\n" not in RestoreReport(model="m:latest", location="s3://b", status="hit").summary()
