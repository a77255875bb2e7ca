"""A Modelfile from structured arguments instead of text, checked exactly as its lines would be.

``build_spec(from_model="llama3.2", system="Be brief.")`` equals ``parse_modelfile`` of the same lines;
the create operator's ``from_model=``/``system=``... arguments go through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from airflow_provider_ollama.modelfile.assembly import SpecAssembler
from airflow_provider_ollama.modelfile.errors import ModelfileError
from airflow_provider_ollama.modelfile.spec import Message, MessageLike, ModelfileSpec


def build_spec(
    *,
    from_model: str | None = None,
    from_files: Sequence[str | Path] = (),
    adapters: Sequence[str | Path] = (),
    draft_files: Sequence[str | Path] = (),
    template: str | None = None,
    system: str | None = None,
    license: str | Sequence[str] = (),
    parameters: Mapping[str, object] | None = None,
    messages: Sequence[MessageLike] = (),
    requires: str | None = None,
    renderer: str | None = None,
    parser: str | None = None,
    base_dir: Path | None = None,
    confine_to_base_dir: bool = True,
) -> ModelfileSpec:
    """A spec from structured arguments, with the checks a Modelfile gets.

    Give ``from_model`` (a model name) or ``from_files`` (GGUF files or weight directories).
    Parameter values may be Python values or their Modelfile text (``0.7`` or ``"0.7"``); ``stop``
    takes a string or a list. Raises :class:`ModelfileError` listing every problem. Example::

        build_spec(from_model="llama3.2", system="Be brief.", parameters={"num_ctx": 4096})
    """
    assembler = SpecAssembler(base_dir=base_dir, confine_to_base_dir=confine_to_base_dir)
    if from_model is not None:
        assembler.add("from", from_model, source="name")
    for path in from_files:
        assembler.add("from", str(path), source="path")
    for path in adapters:
        assembler.add("adapter", str(path))
    for path in draft_files:
        assembler.add("draft", str(path))
    for keyword, text in (
        ("template", template),
        ("system", system),
        ("requires", requires),
        ("renderer", renderer),
        ("parser", parser),
    ):
        if text is not None:
            assembler.add(keyword, text)
    for text in (license,) if isinstance(license, str) else license:
        assembler.add("license", text)
    for name, value in (parameters or {}).items():
        assembler.add_parameter_value(name, value)
    for message in messages:
        role, content = _message_parts(message)
        assembler.add("message", content, argument=role)
    spec = assembler.finish()
    if assembler.problems:
        raise ModelfileError(assembler.problems, source="structured arguments")
    return spec


def _message_parts(message: MessageLike) -> tuple[str, str]:
    if isinstance(message, Message):
        return message.role, message.content
    if isinstance(message, tuple):
        return message
    return message.get("role", ""), message.get("content", "")
