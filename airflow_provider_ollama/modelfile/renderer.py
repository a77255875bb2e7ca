"""ModelfileSpec -> canonical Modelfile text, for users who generate Modelfiles from arguments.

Each value is written in the plainest spelling that reads back unchanged, so parsing the text gives
back the same spec (the round trip the tests check).
"""

from __future__ import annotations

from pathlib import Path

from airflow_provider_ollama.modelfile.errors import ModelfileError, ModelfileProblem
from airflow_provider_ollama.modelfile.parameters import parameter_text
from airflow_provider_ollama.modelfile.spec import ModelfileSpec
from airflow_provider_ollama.modelfile.syntax import quote


def render_modelfile(spec: ModelfileSpec) -> str:
    """Modelfile text for ``spec``: base first, then adapters, parameters, prompts, messages, licenses.

    Raises :class:`ModelfileError` for a value Modelfile syntax cannot hold: it has no escapes, so a
    line ending in ``\"\"\"`` before a line break has no spelling.
    """
    lines: list[str] = []
    problems: list[ModelfileProblem] = []

    def write(instruction: str, value: str, argument: str | None = None) -> None:
        spelled = quote(value)
        head = f"{instruction} {argument}" if argument is not None else instruction
        if spelled is None:
            problems.append(
                ModelfileProblem(
                    None,
                    f"the value of {head} cannot be written in a Modelfile",
                    'no line but the last may end with """; put another character after those quotes',
                )
            )
        else:
            lines.append(f"{head} {spelled}")

    if spec.from_model is not None:
        write("FROM", spec.from_model)
    for instruction, paths in (
        ("FROM", spec.from_files),
        ("ADAPTER", spec.adapters),
        ("DRAFT", spec.draft_files),
    ):
        for path in paths:
            write(instruction, _path_text(path))
    for instruction, text in (
        ("REQUIRES", spec.requires),
        ("RENDERER", spec.renderer),
        ("PARSER", spec.parser),
    ):
        if text is not None:
            write(instruction, text)
    for name, value in spec.parameters.items():
        for item in value if isinstance(value, list) else [value]:
            write("PARAMETER", parameter_text(item), argument=name)
    if spec.template is not None:
        write("TEMPLATE", spec.template)
    if spec.system is not None:
        write("SYSTEM", spec.system)
    for message in spec.messages:
        write("MESSAGE", message.content, argument=message.role)
    for text in spec.license:
        write("LICENSE", text)
    if problems:
        raise ModelfileError(problems, source="render_modelfile")
    return "\n".join(lines) + "\n"


def _path_text(path: Path) -> str:
    # A bare relative name would read back as a model name; "./" keeps it a path.
    return str(path) if path.is_absolute() else f"./{path}"
