"""The ``registry`` command: run the registry emulator in the foreground until SIGTERM or SIGINT.

``python -m airflow_provider_ollama.testing.registry`` and ``ollama-emulator registry`` both land
here; the first line on stdout says where it listens, for scripts that start it on port 0.
"""

from __future__ import annotations

import argparse
import re
import signal
import threading
from types import FrameType

from airflow_provider_ollama.testing.registry.catalogue import (
    Catalogue,
    big_model_spec,
    default_catalogue,
)
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator

_SIZE_RE = re.compile(r"^(\d+)\s*([KMG]?)(?:i?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """``1048576``, ``512KiB``, ``256MiB``, ``2GiB`` (or ``2G``) -> bytes (binary units)."""
    match = _SIZE_RE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use bytes or e.g. 256MiB, 2GiB")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-emulator registry",
        description="Serve synthetic Ollama models over the registry protocol (pull and push).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--big-size",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="also serve library/big:latest with a GGUF of SIZE (e.g. 256MiB, 2GiB)",
    )
    parser.add_argument(
        "--no-default-models", action="store_true", help="start without the default tiny models"
    )
    parser.add_argument("--storage-dir", default=None, help="keep pushed blobs here (default: a temp dir)")
    return parser


def run_registry_cli(argv: list[str]) -> int:
    """Run the registry emulator until SIGTERM or SIGINT; returns the process exit code."""
    options = _parser().parse_args(argv)
    catalogue = Catalogue() if options.no_default_models else default_catalogue()
    if options.big_size is not None:
        catalogue.add(big_model_spec(options.big_size))
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with RegistryEmulator(
            catalogue, host=options.host, port=options.port, storage_dir=options.storage_dir
        ) as registry:
            print(f"Registry listening on {registry.url}", flush=True)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
