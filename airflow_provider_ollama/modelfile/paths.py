"""Local files named by FROM, ADAPTER and DRAFT: resolving, confining, and listing what to upload.

Paths are relative to the Modelfile's directory, as in Ollama. A directory (Safetensors or GGUF
weights) uploads the files Ollama would pick from it, found by the same name patterns.
"""

from __future__ import annotations

import os
from pathlib import Path


class LocalPathError(ValueError):
    """A local path that cannot be used; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# Ollama takes the first group of weight files that matches, then the config and tokenizer files.
_WEIGHT_GROUPS = (
    ("model*.safetensors", "*/model*.safetensors"),
    ("consolidated*.safetensors",),
    ("pytorch_model*.bin",),
    ("consolidated*.pth",),
    ("*.gguf",),
    ("*.bin",),
)
_CONFIG_PATTERNS = ("*.json", "*/*.json", "chat_template.jinja")
_TOKENIZER_PATTERNS = ("tokenizer.model", "*/tokenizer.model")
_LFS_POINTER_PREFIX = b"version https://git-lfs"


def is_path_like(value: str) -> bool:
    """Whether a FROM value is written as a path (``/x``, ``./x``, ``../x``, ``~/x``, ``.``)."""
    return value.startswith(("/", "./", "../", "~")) or value in (".", "..")


def resolve_local_path(value: str, base_dir: Path | None) -> Path:
    """Absolute path of ``value``: ``~`` expanded, relative to ``base_dir``, ``..`` folded lexically.

    Symlinks are kept, so the name a file is uploaded under is the name the Modelfile gave it.
    """
    text = os.path.expanduser(value) if value.startswith("~") else value
    if text.startswith("~"):
        raise LocalPathError(
            f"cannot expand {value!r}: no such user", "write the path out in full, or use ~/ for your home"
        )
    if not os.path.isabs(text):
        if base_dir is None:
            raise LocalPathError(
                f"relative path {value!r} has no directory to be relative to",
                "use an absolute path, or give the Modelfile's directory (base_dir)",
            )
        text = os.path.join(os.path.abspath(base_dir), text)
    return Path(os.path.normpath(text))


def check_inside(path: Path, root: Path) -> None:
    """Raise :class:`LocalPathError` unless ``path``, with symlinks and ``..`` resolved, is in ``root``."""
    real_root = root.resolve()
    if not path.resolve().is_relative_to(real_root):
        raise LocalPathError(
            f"{path} is outside the Modelfile's directory {real_root} (after resolving '..' and symlinks)",
            "keep model files inside the Modelfile's directory, so a Modelfile cannot upload any file "
            "on the worker",
        )


def check_usable(path: Path) -> None:
    """Raise :class:`LocalPathError` unless ``path`` exists and holds what Ollama can upload."""
    if not path.exists():
        raise LocalPathError(
            f"{path} does not exist",
            "check the path (relative paths start at the Modelfile's directory)",
        )
    for file in files_to_upload(path):
        _check_not_lfs_pointer(file)


def files_to_upload(source: Path) -> dict[Path, str]:
    """Each file to upload for ``source``, with the name it has in the create request.

    A file goes under its own name. A directory gives its weights, configs and tokenizer, named by
    their path inside it (Ollama's CLI uses bare file names, which collide for nested files).
    """
    if not source.is_dir():
        return {source: source.name}
    files = _first_match(source, _WEIGHT_GROUPS)
    if not files:
        raise LocalPathError(
            f"directory {source} holds no model weights",
            "it needs model*.safetensors, consolidated*.safetensors, pytorch_model*.bin, "
            "consolidated*.pth, *.gguf or *.bin files",
        )
    files += _glob(source, _CONFIG_PATTERNS) + _first_match(source, tuple((p,) for p in _TOKENIZER_PATTERNS))
    named: dict[Path, str] = {}
    for file in files:
        # Like Ollama, refuse a symlink that leads out of the weights directory.
        check_inside(file, source)
        named[file] = file.relative_to(source).as_posix()
    return named


def _first_match(directory: Path, groups: tuple[tuple[str, ...], ...]) -> list[Path]:
    for patterns in groups:
        if matches := _glob(directory, patterns):
            return matches
    return []


def _glob(directory: Path, patterns: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        found += sorted(path for path in directory.glob(pattern) if path.is_file())
    return found


def _check_not_lfs_pointer(file: Path) -> None:
    try:
        with file.open("rb") as handle:
            start = handle.read(len(_LFS_POINTER_PREFIX))
    except OSError as error:
        raise LocalPathError(f"cannot read {file}: {error.strerror}", "make the file readable") from None
    if start == _LFS_POINTER_PREFIX:
        raise LocalPathError(
            f"{file} is a Git LFS pointer, not the model data", "fetch the real file (git lfs pull)"
        )
