"""Instructions get their meaning: REQUIRES versions follow Go's semver rules, as Ollama checks them."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.modelfile.assembly import SpecAssembler


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("0.14.0", "0.14.0"),
        ("v0.14.0", "0.14.0"),
        ("1", "1"),
        ("1.2", "1.2"),
        ("1.2.3-rc.1+b.5", "1.2.3-rc.1+b.5"),
    ],
)
def test_valid_requires_is_stored_without_v(written: str, stored: str) -> None:
    assembler = SpecAssembler(base_dir=None, confine_to_base_dir=True)
    assembler.add("requires", written, line=1)
    assert assembler.finish(require_from=False).requires == stored
    assert assembler.problems == []


@pytest.mark.parametrize(
    "written", ["", "latest", "01.2.3", "1.2-rc1", "1.2.3-01", "1.2.3.4", "vv1", "1.2.3 "]
)
def test_invalid_requires_is_reported(written: str) -> None:
    assembler = SpecAssembler(base_dir=None, confine_to_base_dir=True)
    assembler.add("requires", written, line=4)
    assembler.finish(require_from=False)
    assert [(p.line, p.message) for p in assembler.problems] == [
        (4, f"REQUIRES {written!r} is not a version")
    ]
