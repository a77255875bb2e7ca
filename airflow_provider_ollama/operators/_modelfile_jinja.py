"""Modelfiles under Airflow's Jinja: load a Modelfile file, and keep TEMPLATE's Go templates away from Jinja.

A TEMPLATE value is a Go template (``{{ .System }}``), which Jinja cannot parse. Wrapping each such value
in a raw block before rendering lets the rest of the Modelfile (SYSTEM, PARAMETER...) use Jinja freely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from airflow_provider_ollama.modelfile.syntax import split_instructions

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True)
class ModelfileSource:
    """A Modelfile's text and, when it came from a file, where that file is."""

    text: str
    path: Path | None = None


def load_modelfile(env: jinja2.Environment, name: str) -> ModelfileSource:
    """Read the Modelfile file ``name`` through ``env``'s loader (the DAG folder and template_searchpath).

    :raises jinja2.TemplateNotFound: no such file on the search path.
    """
    if env.loader is None:
        raise jinja2.TemplateNotFound(name, f"no template search path to find Modelfile {name!r} on")
    text, filename, _ = env.loader.get_source(env, name)
    return ModelfileSource(text, Path(filename).resolve() if filename else None)


def protect_go_templates(text: str, env: jinja2.Environment) -> str:
    """``text`` with every TEMPLATE value that holds template syntax wrapped in a Jinja raw block.

    Jinja then passes those values through untouched, while the rest of the Modelfile is rendered.
    A value that already has a raw block is left as written (the user protected it), so applying this
    twice changes nothing. Values are found with the Modelfile reader's own rules (quotes, comments,
    multi-line values), so a TEMPLATE word inside another instruction's value is not mistaken for one.
    """
    opening = f"{env.block_start_string} raw {env.block_end_string}"
    closing = f"{env.block_start_string} endraw {env.block_end_string}"
    raw_tag = re.compile(re.escape(env.block_start_string) + r"-?\s*(end)?raw\b")
    markers = (env.variable_start_string, env.block_start_string, env.comment_start_string)
    bom = len(_BOM) if text.startswith(_BOM) else 0
    body = text[bom:]
    line_starts = [0] + [match.end() for match in _LINE_BREAK.finditer(body)]
    spans: list[tuple[int, int]] = []
    for instruction in split_instructions(body).instructions:
        value = instruction.value
        if instruction.keyword != "template" or not value or raw_tag.search(value):
            continue
        if not any(marker in value for marker in markers):
            continue
        start = _value_start(body, line_starts[instruction.line - 1])
        if body[start : start + len(value)] == value:
            spans.append((bom + start, bom + start + len(value)))
    for start, end in reversed(spans):
        text = f"{text[:start]}{opening}{text[start:end]}{closing}{text[end:]}"
    return text


def _value_start(body: str, line_start: int) -> int:
    """Offset of the first character of the value of the instruction whose line starts at ``line_start``."""
    match = re.compile(r'[ \t]*[A-Za-z]+[ \t]+("""|")?').match(body, line_start)
    assert match is not None  # the reader found an instruction word and a value on this line
    return match.end()
