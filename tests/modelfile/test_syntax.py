"""Modelfile text splits into instructions the way Ollama reads it, and quote() spells values back."""

from __future__ import annotations

import pytest

from airflow_provider_ollama.modelfile.syntax import RawInstruction, quote, split_instructions


def test_instruction_keeps_its_first_line_argument_and_unquoted_value() -> None:
    lexed = split_instructions('# c\nFROM x\n\nPARAMETER stop "a b"\nSYSTEM """1\n2"""\nMESSAGE user hi\n')
    assert lexed.instructions == [
        RawInstruction(2, "from", None, "x"),
        RawInstruction(4, "parameter", "stop", "a b"),
        RawInstruction(5, "system", None, "1\n2"),
        RawInstruction(7, "message", "user", "hi"),
    ]
    assert lexed.problems == []
    assert lexed.complete


def test_line_numbers_count_lone_carriage_returns_as_line_breaks() -> None:
    lexed = split_instructions("FROM x\rSYSTEM y\r\nLICENSE z")
    assert [(i.line, i.value) for i in lexed.instructions] == [(1, "x"), (2, "y"), (3, "z")]


def test_value_ends_at_first_line_break_where_its_quote_is_closed() -> None:
    # The middle line ends with one quote, which does not close a triple-quoted value.
    lexed = split_instructions('SYSTEM """a "b"\nc"""\nFROM x\n')
    assert [(i.keyword, i.value) for i in lexed.instructions] == [("system", 'a "b"\nc'), ("from", "x")]


def test_trailing_whitespace_after_closing_quote_is_ignored() -> None:
    lexed = split_instructions('SYSTEM """a\nb"""   \t\nFROM x\n')
    assert lexed.instructions[0].value == "a\nb"


def test_unterminated_quote_marks_the_file_incomplete() -> None:
    lexed = split_instructions('FROM x\nTEMPLATE """open\n')
    assert not lexed.complete
    assert [p.line for p in lexed.problems] == [2]


def test_unknown_instruction_suggests_the_closest_one() -> None:
    lexed = split_instructions("SYSTM hello\n")
    assert lexed.problems[0].message == "unknown instruction 'SYSTM'"
    assert lexed.problems[0].hint.startswith("did you mean SYSTEM?")


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("llama3.2", "llama3.2"),
        ("You are Mario.", "You are Mario."),
        ('say "hi" now', 'say "hi" now'),
        (" padded ", '" padded "'),
        ("", '""'),
        ("two\nlines", '"""two\nlines"""'),
        ('"starts with a quote', '""""starts with a quote"""'),
        ('ends with a quote"', 'ends with a quote"'),
        ('line one "x"\nline two', '"""line one "x"\nline two"""'),
        ("no quotes\nat all", '"""no quotes\nat all"""'),
        ("{{ .System }}", "{{ .System }}"),
    ],
)
def test_quote_picks_the_plainest_spelling_that_reads_back(value: str, spelled: str) -> None:
    assert quote(value) == spelled
    assert split_instructions(f"SYSTEM {spelled}\n").instructions[0].value == value


def test_quote_gives_none_when_no_spelling_reads_back() -> None:
    # Any quote closes at a line break after a line ending in three quotes: there is no escape.
    assert quote('a"""\nb') is None
