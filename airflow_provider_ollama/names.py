"""Ollama model names: parsing, validation, display and store paths.

One implementation of Ollama's naming rules (``[host/][namespace/]model[:tag]``) shared by the hook,
the S3 cache, the per-task server and the emulator, so that every part agrees on where a model lives.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import PurePosixPath

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_HOST_MAX_LEN = 350
_PART_MAX_LEN = 80
_ALNUM_UNDERSCORE = frozenset(string.ascii_letters + string.digits + "_")


class InvalidModelNameError(ValueError):
    """Raised for a string that is not a valid Ollama model name."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"invalid model name {text!r}: expected [host/][namespace/]model[:tag], e.g. 'llama3.2:1b' "
            "or 'myteam/summariser:v2' (letters, digits, '_', '-', '.'; the tag may not contain '/')"
        )
        self.text = text


def _part_is_valid(part: str, *, kind: str) -> bool:
    limit = _HOST_MAX_LEN if kind == "host" else _PART_MAX_LEN
    if not 1 <= len(part) <= limit or part[0] not in _ALNUM_UNDERSCORE:
        return False
    for char in part[1:]:
        if char in _ALNUM_UNDERSCORE or char in "-_":
            continue
        if char == "." and kind != "namespace":
            continue
        if char == ":" and kind == "host":
            continue
        return False
    return True


@dataclass(frozen=True)
class ModelName:
    """A fully qualified model name, as Ollama stores it.

    Parts keep the case they were written in; compare with :meth:`same_model` (Ollama matches names
    case-insensitively).
    """

    host: str
    namespace: str
    model: str
    tag: str
    #: ``http`` when the name was written with an ``http://`` prefix (plain-http registries).
    scheme: str = "https"

    @classmethod
    def parse(cls, text: str) -> ModelName:
        """Parse ``text``, filling in Ollama's defaults; raise :class:`InvalidModelNameError` if invalid."""
        rest = text
        scheme = "https"
        for prefix in ("https://", "http://"):
            if rest.startswith(prefix):
                scheme = prefix[:-3]
                rest = rest[len(prefix) :]
                break
        tag = ""
        # A ':' after the last '/' separates the tag; one before it belongs to a host:port.
        if rest.rfind(":") > rest.rfind("/"):
            rest, _, tag = rest.rpartition(":")
            if not rest or not tag:
                raise InvalidModelNameError(text)
        pieces = rest.split("/")
        if len(pieces) > 3 or any(piece == "" for piece in pieces):
            raise InvalidModelNameError(text)
        host, namespace, model = [DEFAULT_HOST, DEFAULT_NAMESPACE][: 3 - len(pieces)] + pieces
        name = cls(host=host, namespace=namespace, model=model, tag=tag or DEFAULT_TAG, scheme=scheme)
        if not name.is_valid():
            raise InvalidModelNameError(text)
        return name

    @classmethod
    def is_parsable(cls, text: str) -> bool:
        """Whether ``text`` is a valid model name."""
        try:
            cls.parse(text)
        except InvalidModelNameError:
            return False
        return True

    @classmethod
    def from_manifest_path(cls, relative: PurePosixPath) -> ModelName:
        """Name of the manifest stored at ``manifests/<relative>`` (``host/namespace/model/tag``)."""
        if len(relative.parts) != 4:
            raise InvalidModelNameError(str(relative))
        host, namespace, model, tag = relative.parts
        name = cls(host=host, namespace=namespace, model=model, tag=tag)
        if not name.is_valid():
            raise InvalidModelNameError(str(relative))
        return name

    def is_valid(self) -> bool:
        return (
            _part_is_valid(self.host, kind="host")
            and _part_is_valid(self.namespace, kind="namespace")
            and _part_is_valid(self.model, kind="model")
            and _part_is_valid(self.tag, kind="tag")
        )

    def same_model(self, other: ModelName) -> bool:
        """Case-insensitive equality, the way Ollama resolves names."""
        return self.key == other.key

    @property
    def key(self) -> tuple[str, str, str, str]:
        """A case-folded tuple for dictionary lookups."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    @property
    def manifest_path(self) -> PurePosixPath:
        """Path of the manifest below ``<models>/manifests/``."""
        return PurePosixPath(self.host, self.namespace, self.model, self.tag)

    @property
    def registry_base_url(self) -> str:
        """``<scheme>://<host>`` of the registry this name is pulled from."""
        return f"{self.scheme}://{self.host}"

    @property
    def repository(self) -> str:
        """``namespace/model``, the repository part of registry URLs."""
        return f"{self.namespace}/{self.model}"

    def display_shortest(self) -> str:
        """The short form Ollama lists models by: ``m:tag``, ``ns/m:tag`` or ``host/ns/m:tag``."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
