"""Modelfile text -> checked ModelfileSpec, reporting every problem with its line before any request.

Ollama's server no longer reads Modelfiles (``/api/create`` lost its ``modelfile`` field in v0.5.5),
so the provider reads them itself, the way Ollama's own client does.
"""

from __future__ import annotations

from pathlib import Path

from airflow_provider_ollama.modelfile.assembly import SpecAssembler
from airflow_provider_ollama.modelfile.errors import ModelfileError
from airflow_provider_ollama.modelfile.spec import ModelfileSpec
from airflow_provider_ollama.modelfile.syntax import split_instructions


def parse_modelfile(
    text: str,
    *,
    base_dir: Path | None = None,
    source: str = "<Modelfile>",
    confine_to_base_dir: bool = True,
) -> ModelfileSpec:
    """Parse and check a Modelfile; raise :class:`ModelfileError` listing every problem found.

    :param text: the Modelfile (after Jinja rendering, when it comes from a templated field).
    :param base_dir: the Modelfile's directory. Relative paths in FROM, ADAPTER and DRAFT start
        there, and a bare FROM value naming an existing file there is that file. Without it, only
        absolute and ``~`` paths can be used.
    :param source: what to call the Modelfile in error messages (e.g. its path).
    :param confine_to_base_dir: with ``base_dir``, refuse local files outside it (after resolving
        ``..`` and symlinks), so a templated Modelfile cannot upload any file of the worker.
    """
    lexed = split_instructions(text)
    assembler = SpecAssembler(base_dir=base_dir, confine_to_base_dir=confine_to_base_dir)
    for instruction in lexed.instructions:
        assembler.add_instruction(instruction)
    # An unterminated quote hides the rest of the file, which may well hold the FROM line.
    spec = assembler.finish(require_from=lexed.complete)
    problems = lexed.problems + assembler.problems
    if problems:
        raise ModelfileError(problems, source)
    return spec
