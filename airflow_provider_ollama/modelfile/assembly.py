"""The meaning of Modelfile instructions: each is checked and collected into a ModelfileSpec.

Shared by the text parser and ``structured.build_spec``, so a Modelfile line and the structured
argument that says the same thing pass exactly the same checks.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Literal

from airflow_provider_ollama.modelfile.errors import ModelfileProblem
from airflow_provider_ollama.modelfile.parameters import (
    DEPRECATED_PARAMETERS,
    ParameterType,
    ParameterValue,
    ParameterValueError,
    parameter_text,
    parameter_type,
    parse_parameter,
)
from airflow_provider_ollama.modelfile.paths import (
    LocalPathError,
    check_inside,
    check_usable,
    is_path_like,
    resolve_local_path,
)
from airflow_provider_ollama.modelfile.spec import MESSAGE_ROLES, Message, ModelfileSpec
from airflow_provider_ollama.modelfile.syntax import RawInstruction
from airflow_provider_ollama.names import ModelName

log = logging.getLogger(__name__)

#: How a FROM value is read: as written ("auto": a path if it looks like one or exists), or forced.
FromSource = Literal["auto", "name", "path"]

# Go's semver.IsValid (after Ollama adds the "v"): v1, v1.2, v1.2.3[-pre.release][+build.meta].
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"v{_NUMBER}(?:\.{_NUMBER}(?:\.{_NUMBER}(?:-{_PRE}(?:\.{_PRE})*)?(?:\+{_BUILD}(?:\.{_BUILD})*)?)?)?"
)
_WEIGHT_SUFFIXES = (".gguf", ".safetensors")
_KEEP_ONE = "keep one line; Ollama would silently use only the last"


class SpecAssembler:
    """Collects instructions into a spec, recording every problem instead of stopping at the first."""

    def __init__(self, *, base_dir: Path | None, confine_to_base_dir: bool) -> None:
        self.problems: list[ModelfileProblem] = []
        self._base_dir = Path(os.path.abspath(base_dir)) if base_dir is not None else None
        self._confine = confine_to_base_dir
        self._first_lines: dict[str, int | None] = {}
        self._from_model: str | None = None
        self._from_files: list[Path] = []
        self._adapters: list[Path] = []
        self._drafts: list[tuple[int | None, Path]] = []
        self._texts: dict[str, str] = {}
        self._licenses: list[str] = []
        self._parameters: dict[str, ParameterValue] = {}
        self._messages: list[Message] = []

    def add_instruction(self, instruction: RawInstruction) -> None:
        """Add an instruction read from text; one without a value (already reported) only counts as seen."""
        if instruction.value is None:
            self._first_lines.setdefault(instruction.keyword, instruction.line)
            return
        self.add(instruction.keyword, instruction.value, argument=instruction.argument, line=instruction.line)

    def add(
        self,
        keyword: str,
        value: str,
        *,
        argument: str | None = None,
        line: int | None = None,
        source: FromSource = "auto",
    ) -> None:
        """Add one instruction (lower-case ``keyword``); ``line`` is ``None`` for structured arguments."""
        if keyword == "from":
            self._add_from(value, line, source)
        elif keyword in ("adapter", "draft"):
            self._add_local_file(keyword, value, line)
        elif keyword == "parameter":
            self._add_parameter(argument or "", value, line)
        elif keyword == "message":
            self._add_message(argument or "", value, line)
        elif keyword == "license":
            self._licenses.append(value)
        elif keyword == "requires":
            self._add_requires(value, line)
        elif self._is_first(keyword, line, f"{keyword.upper()} appears more than once", _KEEP_ONE):
            self._texts[keyword] = value

    def add_parameter_value(self, name: str, value: object) -> None:
        """Add a structured parameter: a Python value, its Modelfile text, or a list for ``stop``."""
        try:
            kind = parameter_type(name)
        except ParameterValueError as error:
            self._problem(None, error.message, error.hint)
            return
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and kind is not ParameterType.STRING_LIST:
            self._problem(None, f"parameter {name} takes one value, got a list", f"give one {kind.value}")
            return
        for item in items:
            try:
                self._add_parameter(name, parameter_text(item), None)
            except ParameterValueError as error:
                self._problem(None, f"{error.message} for parameter {name}", error.hint)

    def finish(self, *, require_from: bool = True) -> ModelfileSpec:
        """The spec of everything added; check :attr:`problems` before trusting it."""
        if require_from and "from" not in self._first_lines:
            self._problem(
                None, "no FROM line", "add a base, e.g. FROM llama3.2 (a model name) or FROM ./model.gguf"
            )
        for line, draft in self._drafts:
            if any(draft.resolve() == base.resolve() for base in self._from_files):
                self._problem(line, f"DRAFT {draft} is the same path as FROM", "give DRAFT a separate model")
        return ModelfileSpec(
            from_model=self._from_model,
            from_files=tuple(self._from_files),
            adapters=tuple(self._adapters),
            draft_files=tuple(draft for _, draft in self._drafts),
            template=self._texts.get("template"),
            system=self._texts.get("system"),
            license=tuple(self._licenses),
            parameters=self._parameters,
            messages=tuple(self._messages),
            requires=self._texts.get("requires"),
            renderer=self._texts.get("renderer"),
            parser=self._texts.get("parser"),
        )

    def _add_from(self, value: str, line: int | None, source: FromSource) -> None:
        if not self._is_first(
            "from", line, "more than one FROM", "keep one FROM: a model builds on one base"
        ):
            return
        if not value:
            self._problem(line, "FROM has no value", "write FROM <model name> or FROM ./model.gguf")
        elif source == "path" or (source == "auto" and self._names_local_file(value)):
            path = self._local_path("from", value, line)
            if path is not None:
                self._from_files.append(path)
        elif ModelName.is_parsable(value):
            self._from_model = value
        else:
            self._problem(line, f"FROM {value!r} is neither a valid model name nor a path", _name_hint(value))

    def _add_local_file(self, keyword: str, value: str, line: int | None) -> None:
        if keyword == "adapter" and not self._is_first(
            "adapter",
            line,
            "only one adapter is currently supported",
            "merge the adapters, or keep one ADAPTER",
        ):
            return
        if not value:
            self._problem(line, f"{keyword.upper()} has no value", f"write {keyword.upper()} ./file.gguf")
            return
        path = self._local_path(keyword, value, line)
        if path is None:
            return
        if keyword == "adapter":
            self._adapters.append(path)
        else:
            self._drafts.append((line, path))

    def _add_parameter(self, name: str, text: str, line: int | None) -> None:
        if name in DEPRECATED_PARAMETERS:
            where = f"line {line}: " if line is not None else ""
            log.warning("%sparameter %s is deprecated and Ollama ignores it; leaving it out", where, name)
            return
        try:
            value = parse_parameter(name, text)
        except ParameterValueError as error:
            self._problem(line, error.message, error.hint)
            return
        if isinstance(value, str):
            stops = self._parameters.setdefault(name, [])
            if isinstance(stops, list):
                stops.append(value)
        elif self._is_first(f"parameter {name}", line, f"parameter {name} is set more than once", _KEEP_ONE):
            self._parameters[name] = value

    def _add_message(self, role: str, content: str, line: int | None) -> None:
        if role in MESSAGE_ROLES:
            self._messages.append(Message(role, content))
        else:
            self._problem(
                line, f"invalid MESSAGE role {role!r}", f"use one of {', '.join(MESSAGE_ROLES)} (lower case)"
            )

    def _add_requires(self, value: str, line: int | None) -> None:
        version = value if value.startswith("v") else f"v{value}"
        if not _SEMVER.fullmatch(version):
            self._problem(
                line, f"REQUIRES {value!r} is not a version", "write the minimum Ollama version, e.g. 0.14.0"
            )
        elif self._is_first("requires", line, "REQUIRES appears more than once", _KEEP_ONE):
            self._texts["requires"] = version[1:]

    def _local_path(self, keyword: str, value: str, line: int | None) -> Path | None:
        try:
            path = resolve_local_path(value, self._base_dir)
            if self._confine and self._base_dir is not None:
                check_inside(path, self._base_dir)
            check_usable(path)
        except LocalPathError as error:
            hint = f"{error.hint}; or write a model name" if keyword == "from" else error.hint
            self._problem(line, f"{keyword.upper()} {error.message}", hint)
            return None
        except (OSError, ValueError) as error:  # e.g. a NUL byte, or a path too long for the OS
            self._problem(line, f"{keyword.upper()} path {value!r} cannot be used: {error}", "fix the path")
            return None
        return path

    def _names_local_file(self, value: str) -> bool:
        """Whether a FROM value means a local file: path-like, a weights file name, or existing."""
        if is_path_like(value) or value.lower().endswith(_WEIGHT_SUFFIXES):
            return True
        return self._base_dir is not None and (self._base_dir / value).exists()

    def _is_first(self, key: str, line: int | None, message: str, hint: str) -> bool:
        """Record the first ``key``; for a repeat, report ``message`` and return False."""
        if key not in self._first_lines:
            self._first_lines[key] = line
            return True
        first = self._first_lines[key]
        where = f" (first on line {first})" if first is not None else ""
        self._problem(line, f"{message}{where}", hint)
        return False

    def _problem(self, line: int | None, message: str, hint: str) -> None:
        self.problems.append(ModelfileProblem(line, message, hint))


def _name_hint(value: str) -> str:
    if "{" in value:
        return "Modelfiles are rendered with Jinja: write {{ params.x }}, not {inputs.x} or {x}"
    if "#" in value:
        return "comments must be on a line of their own"
    return "write a model name such as llama3.2:1b or myteam/summariser:v2, or a path starting with ./ or /"
