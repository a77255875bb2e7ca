"""What a Modelfile says, as a frozen value: the base, adapters, prompts, parameters and messages.

Parsing a Modelfile and building one from structured arguments (``build_spec``) both produce a
:class:`ModelfileSpec`, so the create operator, the renderer and the request builder share one checked representation.
"""

from __future__ import annotations

from collections.abc import Mapping
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


#: What :func:`~airflow_provider_ollama.modelfile.structured.build_spec` accepts for a message: a Message, ``{"role", "content"}``, or a pair.
MessageLike: TypeAlias = Message | Mapping[str, str] | tuple[str, str]


@dataclass(frozen=True)
class ModelfileSpec:
    """A validated Modelfile. Make one with :func:`parse_modelfile` or :func:`build_spec`.

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
