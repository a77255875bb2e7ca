"""What ``ollama serve`` does before it answers: key pair, store checks, blob renames and prune.

The per-task server code depends on these side effects and failures (a ``HOME`` that cannot be
written, a models directory that cannot be created, the ``Listening on`` log line), so the emulator
reproduces them with Ollama's messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from airflow_provider_ollama.store import ModelStore
from airflow_provider_ollama.testing.emulator import keypair
from airflow_provider_ollama.testing.emulator.settings import EmulatorSettings
from airflow_provider_ollama.testing.emulator.storage import fix_blob_names, prune_store


class StartupError(Exception):
    """``ollama serve`` would stop with ``Error: <message>`` and exit status 1."""


def slog_line(level: str, source: str, message: str, **attributes: object) -> str:
    """A log line in the format of Ollama's ``slog`` text handler."""
    moment = datetime.now().astimezone()
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parts = [f"time={stamp}", f"level={level}", f"source={source}", f"msg={_slog_value(message)}"]
    parts += [f"{key}={_slog_value(str(value))}" for key, value in attributes.items()]
    return " ".join(parts)


def _slog_value(text: str) -> str:
    if text and not any(char in text for char in ' ="\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _os_error_text(error: OSError) -> str:
    reason = (error.strerror or str(error)).lower()
    if isinstance(error, PermissionError):
        reason = "permission denied"
    elif isinstance(error, FileExistsError):
        reason = "file exists"
    elif isinstance(error, NotADirectoryError):
        reason = "not a directory"
    return reason


def _mkdir_all(path: Path) -> None:
    """``os.MkdirAll`` with Go's error text (the deepest existing ancestor decides what failed)."""
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as error:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise StartupError(f"mkdir {probe}: not a directory") from None
        missing = path
        while missing.parent != probe and missing != missing.parent:
            missing = missing.parent
        raise StartupError(f"mkdir {missing}: {_os_error_text(error)}") from None


def initialize_keypair(home: Path, out: TextIO = sys.stdout) -> None:
    """Create ``$HOME/.ollama/id_ed25519`` (and ``.pub``) if missing, as ``ollama serve`` does first.

    Raises :class:`StartupError` with Go's wording when ``HOME`` cannot be written, which is
    what a per-task server meets on a read-only home directory.
    """
    private_path = home / ".ollama" / "id_ed25519"
    if private_path.exists():
        return
    out.write(f"Couldn't find '{private_path}'. Generating new private key.\n")
    try:
        _mkdir_all(private_path.parent)
    except StartupError as error:
        raise StartupError(f"could not create directory {error}") from None
    private_pem, public = keypair.generate()
    for path, data, mode in (
        (private_path, private_pem, 0o600),
        (Path(f"{private_path}.pub"), public, 0o644),
    ):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise StartupError(f"open {path}: {_os_error_text(error)}") from None
    out.write(f"Your new public key is: \n\n{public.decode()}\n")
    out.flush()


def prepare_store(settings: EmulatorSettings, log: Callable[[str], None]) -> ModelStore:
    """Create the blobs directory, rename legacy blob names and prune (unless ``OLLAMA_NOPRUNE``)."""
    store = ModelStore(settings.models_dir)
    try:
        _mkdir_all(store.blobs_dir)
    except StartupError as error:
        raise StartupError(f"{error}: ensure path elements are traversable") from None
    fix_blob_names(store)
    if not settings.noprune:
        total = sum(1 for _ in store.blobs_dir.iterdir())
        log(slog_line("INFO", "images.go:518", f"total blobs: {total}"))
        removed = prune_store(store)
        log(slog_line("INFO", "images.go:525", f"total unused blobs removed: {removed}"))
    return store
