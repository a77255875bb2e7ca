"""Modelfile syntax: splitting text into instructions, and quoting values so they read back unchanged.

Follows Ollama's reader: case-insensitive instruction words, ``#`` comments where an instruction would
start, values bare or in "double" or \"\"\"triple\"\"\" quotes (both may span lines), no escape sequences.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from airflow_provider_ollama.modelfile.errors import ModelfileProblem

#: Every instruction Ollama's grammar knows, lower-case (Modelfiles are case-insensitive).
INSTRUCTIONS = (
    "from",
    "parameter",
    "template",
    "system",
    "adapter",
    "license",
    "message",
    "requires",
    "renderer",
    "parser",
    "draft",
)
#: Instructions whose first word is an argument (a parameter name, a message role) before the value.
_ARGUMENT_NAMES = {"parameter": "name", "message": "role"}
_EXAMPLES = {
    "from": "FROM llama3.2:1b",
    "parameter": "PARAMETER temperature 0.7",
    "message": "MESSAGE user Is the sky blue?",
    "adapter": "ADAPTER ./lora.gguf",
    "draft": "DRAFT ./draft-model.gguf",
    "requires": "REQUIRES 0.14.0",
}

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_WORD = re.compile(r"[A-Za-z]+")
_TOKEN = re.compile(r"[^ \t]+")
_TRIPLE = '"""'


@dataclass(frozen=True)
class RawInstruction:
    """One instruction as written: its first line, lower-case keyword, argument and unquoted value.

    ``value`` is ``None`` when the line has no value (a problem already reported by the reader); the
    instruction is kept so that, e.g., a FROM without a value still counts as the file's FROM.
    """

    line: int
    keyword: str
    argument: str | None
    value: str | None


@dataclass(frozen=True)
class Lexed:
    """The instructions of a Modelfile and its lexical problems.

    ``complete`` is False when an unterminated quote swallowed the rest of the file.
    """

    instructions: list[RawInstruction]
    problems: list[ModelfileProblem]
    complete: bool


def split_instructions(text: str) -> Lexed:
    """Split Modelfile ``text`` into instructions; lexical problems are returned, not raised.

    After a problem the reader goes on with the next line, so one run reports every problem. Only an
    unterminated quote stops it, as everything after the opening quote belongs to that value.
    """
    lines, breaks = _split_lines(text.removeprefix("\ufeff"))
    instructions: list[RawInstruction] = []
    problems: list[ModelfileProblem] = []
    index = 0
    while index < len(lines):
        line_number = index + 1
        body = lines[index].lstrip(" \t")
        if not body or body.startswith("#"):
            index += 1
            continue
        word = _WORD.match(body)
        keyword = word.group().lower() if word else ""
        rest = body[word.end() :] if word else body
        separated = rest[:1] in (" ", "\t")
        argument = None
        if keyword not in INSTRUCTIONS or (rest and not separated):
            problems.append(_unknown_instruction(line_number, body))
            if not separated:
                index += 1
                continue
            # Read the value anyway, so a multi-line value of a misspelt instruction is skipped whole
            # instead of being read as instructions of its own.
        elif keyword in _ARGUMENT_NAMES:
            token = _TOKEN.match(rest.lstrip(" \t"))
            after = rest.lstrip(" \t")[token.end() :] if token else ""
            if token is None or not after:
                problems.append(_missing_argument_or_value(line_number, keyword, token))
                instructions.append(RawInstruction(line_number, keyword, token and token.group(), None))
                index += 1
                continue
            argument, rest = token.group(), after
        elif not separated:
            problems.append(_missing_value(line_number, keyword))
            instructions.append(RawInstruction(line_number, keyword, None, None))
            index += 1
            continue
        read = _read_value(lines, breaks, index, rest)
        if read is None:
            problems.append(_unterminated(line_number, rest))
            return Lexed(instructions, problems, complete=False)
        value, last_index = read
        if keyword in INSTRUCTIONS:
            instructions.append(RawInstruction(line_number, keyword, argument, value))
        index = last_index + 1
    return Lexed(instructions, problems, complete=True)


def quote(value: str) -> str | None:
    """The plainest Modelfile spelling of ``value`` that reads back as exactly ``value``.

    Bare if possible, else in quotes (triple quotes first for text with quotes or line breaks).
    ``None`` if no spelling reads back: Ollama's grammar has no escapes, so a value with a line that
    ends in ``\"\"\"`` before a line break cannot be written at all (any quote would close there).
    """
    candidates = [value] if value else []
    if _TRIPLE[0] in value or "\n" in value or "\r" in value:
        candidates += [f"{_TRIPLE}{value}{_TRIPLE}", f'"{value}"']
    else:
        candidates += [f'"{value}"', f"{_TRIPLE}{value}{_TRIPLE}"]
    for candidate in candidates:
        lines, breaks = _split_lines(candidate)
        if _read_value(lines, breaks, 0, lines[0]) == (value, len(lines) - 1):
            return candidate
    return None


def _split_lines(text: str) -> tuple[list[str], list[str]]:
    """Lines without their breaks, and the breaks (``\\r\\n``, ``\\r`` or ``\\n``) kept to rebuild values."""
    parts = _LINE_BREAK.split(text)
    return parts[0::2], parts[1::2]


def _read_value(lines: list[str], breaks: list[str], index: int, first: str) -> tuple[str, int] | None:
    """Read the value that starts with ``first`` on ``lines[index]``: ``(value, index of its last line)``.

    Like Ollama, a value ends at the first line break where the text so far, stripped, is bare or
    closed by the quote it opened with; ``None`` if the quote never closes.
    """
    opening = first.strip()
    if opening.startswith(_TRIPLE):
        closer = _TRIPLE
    elif opening.startswith('"'):
        closer = '"'
    else:
        return opening, index
    if len(opening) >= 2 * len(closer) and opening.endswith(closer):
        return opening[len(closer) : -len(closer)], index
    pieces = [first]
    for end in range(index + 1, len(lines)):
        pieces += (breaks[end - 1], lines[end])
        # Breaks are never quotes, so the text so far ends with the closer exactly when this line does.
        if lines[end].rstrip().endswith(closer):
            quoted = "".join(pieces).strip()
            return quoted[len(closer) : -len(closer)], end
    return None


def _missing_value(line: int, keyword: str) -> ModelfileProblem:
    upper = keyword.upper()
    example = _EXAMPLES.get(keyword, f'{upper} """..."""')
    return ModelfileProblem(line, f"{upper} has no value", f"write a value after it, e.g. {example}")


def _unknown_instruction(line: int, body: str) -> ModelfileProblem:
    token = body.split(None, 1)[0]
    close = difflib.get_close_matches(token.lower(), INSTRUCTIONS, n=1)
    known = ", ".join(name.upper() for name in INSTRUCTIONS)
    suggestion = f"did you mean {close[0].upper()}? " if close else ""
    return ModelfileProblem(
        line,
        f"unknown instruction {token!r}",
        f"{suggestion}instructions are {known}; put comments on their own line after '#'",
    )


def _missing_argument_or_value(line: int, keyword: str, token: re.Match[str] | None) -> ModelfileProblem:
    upper = keyword.upper()
    what = _ARGUMENT_NAMES[keyword]
    hint = f"write {upper} <{what}> <value>, e.g. {_EXAMPLES[keyword]}"
    if token is None:
        return ModelfileProblem(line, f"{upper} has no {what} and no value", hint)
    return ModelfileProblem(line, f"{upper} {token.group()} has no value", hint)


def _unterminated(line: int, first: str) -> ModelfileProblem:
    closer = _TRIPLE if first.strip().startswith(_TRIPLE) else '"'
    return ModelfileProblem(
        line,
        f"unterminated quote: the value opened with {closer} on this line is never closed",
        f"end the value with {closer} at the end of its last line",
    )
