"""An emulated Ollama server (its own process, so it has its own core) with a model pulled into it.

Shared by the generation benchmarks; each script measures against the same kind of server.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import ollama

from airflow_provider_ollama.testing.emulator.server import OllamaEmulatorProcess
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator


@dataclass(frozen=True)
class EmulatedServer:
    url: str
    model: str
    embed_model: str
    process: OllamaEmulatorProcess


@contextmanager
def emulated_server(**settings: Any) -> Iterator[EmulatedServer]:
    """Start a registry and an emulator process with ``settings``; pull ``tiny`` and ``tiny-embed`` into it."""
    with RegistryEmulator() as registry:
        process = OllamaEmulatorProcess(registry_url=registry.url, **settings)
        with process:
            client = ollama.Client(host=process.url)
            model = registry.model_name("tiny")
            embed_model = registry.model_name("tiny-embed")
            for name in (model, embed_model):
                client.pull(name, insecure=True)
            # Load both models now so no measurement pays for a load.
            client.generate(model, "warm up", options={"num_predict": 1})
            client.embed(embed_model, "warm up")
            yield EmulatedServer(url=process.url, model=model, embed_model=embed_model, process=process)


def machine_line() -> str:
    """Date and machine, for the README's record of a run."""
    load = os.getloadavg()[0]
    return (
        f"{date.today().isoformat()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (load average {load:.1f} at the end), Python {platform.python_version()}"
    )


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A Markdown table, ready to paste into bench/README.md."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    print(
        "| " + " | ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)) + " |"
    )
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in cells:
        print("| " + " | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) + " |")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
