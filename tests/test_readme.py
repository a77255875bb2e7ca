"""README.md stays true: its Python snippets are excerpts of tested files, its links resolve, two commands.

A snippet copied from an example DAG (or a test) runs in the suite with that file, so it cannot rot
unnoticed; a snippet that no file contains is made up, and fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.dag_runs import REPO_ROOT

README = REPO_ROOT / "README.md"
#: Where snippets may come from: files the test suite runs.
SOURCES = sorted([*(REPO_ROOT / "dags").rglob("*.py"), *(REPO_ROOT / "tests").rglob("*.py")])
#: A line of its own in a snippet that stands for left-out lines.
ELISION = "# ..."

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(README.read_text()) if lang == language]


def _chunks(snippet: str) -> list[list[str]]:
    """The snippet's runs of lines between elisions, without blank lines at either end."""
    chunks: list[list[str]] = [[]]
    for line in snippet.rstrip("\n").split("\n"):
        if line.strip() == ELISION:
            chunks.append([])
        else:
            chunks[-1].append(line.rstrip())
    return [chunk for chunk in ([*_strip_blank(chunk)] for chunk in chunks) if chunk]


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


def _occurs_at(lines: list[str], start: int, chunk: list[str]) -> bool:
    """Whether ``chunk`` is ``lines[start:]`` with one common indentation removed."""
    first = lines[start]
    if not first.endswith(chunk[0]) or first[: len(first) - len(chunk[0])].strip():
        return False
    indent = first[: len(first) - len(chunk[0])]
    if start + len(chunk) > len(lines):
        return False
    return all(
        (not wanted and not lines[start + offset].strip()) or lines[start + offset] == indent + wanted
        for offset, wanted in enumerate(chunk)
    )


def _is_excerpt_of(snippet: str, source: Path) -> bool:
    lines = [line.rstrip() for line in source.read_text().splitlines()]
    position = 0
    for chunk in _chunks(snippet):
        found = next((i for i in range(position, len(lines)) if _occurs_at(lines, i, chunk)), None)
        if found is None:
            return False
        position = found + len(chunk)
    return True


def test_every_python_snippet_is_an_excerpt_of_a_file_the_suite_runs() -> None:
    snippets = _blocks("python")
    assert snippets, "the README shows no Python at all"
    made_up = [
        snippet for snippet in snippets if not any(_is_excerpt_of(snippet, source) for source in SOURCES)
    ]
    assert made_up == [], (
        "README snippets that no file under dags/ or tests/ contains (copy them from an example DAG, "
        f"mark left-out lines with {ELISION!r}):\n\n" + "\n---\n".join(made_up)
    )


def test_every_relative_link_points_to_a_file_in_the_repository() -> None:
    targets = [target for target in _LINK.findall(README.read_text()) if "://" not in target]
    assert targets
    missing = [target for target in targets if not (REPO_ROOT / target).exists()]
    assert missing == []


def test_the_set_up_is_exactly_two_commands_and_both_exist() -> None:
    section = README.read_text().split("## Two commands", 1)[1]
    first_block = _FENCE.search(section)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(2).splitlines() if line.strip()]
    assert commands == ["python3 .ci/dev.py main", "python3 .ci/dev.py test"]
    assert '{"main", "test"}' in (REPO_ROOT / ".ci" / "dev.py").read_text()
