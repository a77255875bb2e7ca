"""Locate the ``ollama`` executable a per-task server runs.

A missing binary is the first thing a new worker meets, so the error says how to install it and how to
point the provider at one that lives elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_ollama.exceptions import OllamaBinaryNotFoundError

#: Environment variable naming the executable when ``binary=`` is not given.
BINARY_ENV_VAR = "OLLAMA_BINARY"

_HOW_TO_FIX = (
    "Install Ollama on the worker (`curl -fsSL https://ollama.com/install.sh | sh`, or build the worker "
    "image FROM ollama/ollama), or name the executable with LocalServer(binary='/path/to/ollama') or the "
    f"{BINARY_ENV_VAR} environment variable."
)


def find_ollama_binary(
    binary: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The absolute path of the ``ollama`` executable to run.

    Looks at ``binary`` (a path, or a command name searched on PATH), then ``$OLLAMA_BINARY``, then
    ``ollama`` on PATH. Raises :class:`OllamaBinaryNotFoundError` naming where it looked.
    """
    env = os.environ if environ is None else environ
    if binary is not None and str(binary):
        return _resolve(str(binary), source="binary=", path=env.get("PATH"))
    configured = env.get(BINARY_ENV_VAR, "").strip()
    if configured:
        return _resolve(configured, source=f"${BINARY_ENV_VAR}", path=env.get("PATH"))
    found = shutil.which("ollama", path=env.get("PATH"))
    if found is None:
        raise OllamaBinaryNotFoundError(f"No `ollama` executable on this worker's PATH. {_HOW_TO_FIX}")
    return Path(found).resolve()


def _resolve(candidate: str, *, source: str, path: str | None) -> Path:
    if os.sep not in candidate:
        found = shutil.which(candidate, path=path)
        if found is None:
            raise OllamaBinaryNotFoundError(
                f"{source} names {candidate!r}, which is not on PATH. {_HOW_TO_FIX}"
            )
        return Path(found).resolve()
    executable = Path(candidate).expanduser()
    if not executable.is_file():
        raise OllamaBinaryNotFoundError(
            f"{source} names {str(executable)!r}, which does not exist. {_HOW_TO_FIX}"
        )
    if not os.access(executable, os.X_OK):
        raise OllamaBinaryNotFoundError(
            f"{source} names {str(executable)!r}, which is not executable (chmod +x it). {_HOW_TO_FIX}"
        )
    return executable.resolve()
