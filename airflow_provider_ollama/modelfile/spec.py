"""What a Modelfile says, as a frozen value: the base, adapters, prompts, parameters and messages.

Parsing a Modelfile and building from structured arguments both produce a :class:`ModelfileSpec`,
so the create operator, the renderer and the request builder share one checked representation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from airflow_provider_ollama.modelfile.errors import ModelfileError, ModelfileProblem
from airflow_provider_ollama.modelfile.parameters import ParameterValue
from airflow_provider_ollama.modelfile.paths import LocalPathError, files_to_upload

#: The roles Ollama's Modelfile reader accepts in MESSAGE (case-sensitive).
MESSAGE_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One MESSAGE: an example turn of the conversation the model starts with."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


#: What :meth:`ModelfileSpec.build` accepts for a message: a Message, ``{"role", "content"}``, or a pair.
MessageLike: TypeAlias = Message | Mapping[str, str] | tuple[str, str]


@dataclass(frozen=True)
class ModelfileSpec:
    """A validated Modelfile. Build one with :func:`parse_modelfile` or :meth:`build`.

    Local paths are absolute. ``parameters`` holds values typed as the server types them, ``stop``
    as a list; treat it as read-only (it is left out of the hash).
    """

    from_model: str | None = None
    from_files: tuple[Path, ...] = ()
    adapters: tuple[Path, ...] = ()
    draft_files: tuple[Path, ...] = ()
    template: str | None = None
    system: str | None = None
    license: tuple[str, ...] = ()
    parameters: dict[str, ParameterValue] = field(default_factory=dict, hash=False)
    messages: tuple[Message, ...] = ()
    requires: str | None = None
    renderer: str | None = None
    parser: str | None = None

    @classmethod
    def build(
        cls,
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
        """Build a spec from structured arguments, with the checks a Modelfile gets.

        Give ``from_model`` (a model name) or ``from_files`` (GGUF files or weight directories).
        Parameter values may be Python values or their Modelfile text (``0.7`` or ``"0.7"``); ``stop``
        takes a string or a list. Raises :class:`ModelfileError` listing every problem. Example::

            ModelfileSpec.build(from_model="llama3.2", system="Be brief.", parameters={"num_ctx": 4096})
        """
        # Imported here: the assembler builds specs, so it imports this module.
        from airflow_provider_ollama.modelfile.assembly import SpecAssembler

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
            raise ModelfileError(assembler.problems, source="ModelfileSpec.build")
        return spec

    def local_files(self) -> tuple[Path, ...]:
        """Every local file to upload as a blob before the create request, directories expanded."""
        return tuple(dict.fromkeys(path for source in self.local_sources() for path in self._files(source)))

    def local_sources(self) -> tuple[Path, ...]:
        """The local paths the Modelfile names (FROM, ADAPTER, DRAFT), files or directories."""
        return self.from_files + self.adapters + self.draft_files

    def to_dict(self) -> dict[str, Any]:
        """A JSON-native copy (paths as strings), e.g. for XCom or logs."""
        return {
            "from_model": self.from_model,
            "from_files": [str(path) for path in self.from_files],
            "adapters": [str(path) for path in self.adapters],
            "draft_files": [str(path) for path in self.draft_files],
            "template": self.template,
            "system": self.system,
            "license": list(self.license),
            "parameters": {
                name: list(value) if isinstance(value, list) else value
                for name, value in self.parameters.items()
            },
            "messages": [message.to_dict() for message in self.messages],
            "requires": self.requires,
            "renderer": self.renderer,
            "parser": self.parser,
        }

    @staticmethod
    def _files(source: Path) -> dict[Path, str]:
        try:
            return files_to_upload(source)
        except LocalPathError as error:
            raise ModelfileError([ModelfileProblem(None, error.message, error.hint)]) from None


def _message_parts(message: MessageLike) -> tuple[str, str]:
    if isinstance(message, Message):
        return message.role, message.content
    if isinstance(message, tuple):
        return message
    return message.get("role", ""), message.get("content", "")
