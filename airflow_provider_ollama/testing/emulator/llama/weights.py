"""Which engine serves a model: llama.cpp for a GGUF with real weights, the deterministic one otherwise.

The synthetic GGUFs of :mod:`airflow_provider_ollama.testing.gguf` are headers with filler: they
declare an architecture of N blocks but carry no block tensors. A file has real weights when it holds
tensors for every block its metadata declares (``blk.0.`` … ``blk.N-1.``) and all of their bytes.
The decision is logged once per load, in one line, with the reason.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass

from airflow_provider_ollama.testing.gguf.format import GGUFFormatError
from airflow_provider_ollama.testing.gguf.reader import read_gguf_header

log = logging.getLogger(__name__)

LLAMA = "llama.cpp"
SYNTHETIC = "synthetic"
INSTALL_HINT = "install the extra: pip install 'airflow-provider-ollama[real-model]'"


@dataclass(frozen=True)
class EngineChoice:
    """The engine for one model file and why, as the load log line says it."""

    engine: str  # LLAMA or SYNTHETIC
    reason: str

    @property
    def real(self) -> bool:
        return self.engine == LLAMA


def has_real_weights(path: str | os.PathLike[str]) -> tuple[bool, str]:
    """Whether the GGUF at ``path`` carries a tensor for every block it declares, and why (not)."""
    try:
        header = read_gguf_header(path, max_array_length=0)
    except (GGUFFormatError, OSError) as error:
        return False, f"unreadable GGUF header ({error})"
    metadata = header.metadata
    architecture = str(metadata.get("general.architecture") or "")
    block_count = metadata.get(f"{architecture}.block_count")
    blocks = block_count if isinstance(block_count, int) else 0
    prefixes = {info.name.split(".", 2)[1] for info in header.tensors if info.name.startswith("blk.")}
    missing = [index for index in range(blocks) if str(index) not in prefixes]
    if blocks == 0 or missing:
        return False, f"no weights for {len(missing) or 'its'} of {blocks} blocks (a header-only GGUF)"
    # A file cut short inside its tensor data still counts as real: llama.cpp refuses it at load, with
    # the error Ollama reports for it.
    return True, f"{len(header.tensors)} tensors for {blocks} blocks of {architecture}"


def engine_available() -> bool:
    """Whether llama.cpp's server (the xllamacpp package of the [real-model] extra) is installed."""
    return importlib.util.find_spec("xllamacpp") is not None


def choose_engine(path: str | os.PathLike[str], model_name: str) -> EngineChoice:
    """The engine for ``model_name`` stored at ``path``, logged in one line."""
    real, why = has_real_weights(path)
    if real and not engine_available():
        choice = EngineChoice(
            SYNTHETIC, f"real weights ({why}) but llama.cpp is not installed; {INSTALL_HINT}"
        )
    else:
        choice = EngineChoice(LLAMA if real else SYNTHETIC, why)
    log.info("engine for %s: %s (%s)", model_name, choice.engine, choice.reason)
    return choice
