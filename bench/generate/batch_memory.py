"""Memory of a large batch: with a JSONL output, RSS must not grow with the number of items.

Runs 10,000 prompts against the emulator (its own process) twice: results to ``file://`` (records
are written in parts and dropped) and results kept in memory (they must be, to be returned).
Run: ``.venv/bin/python bench/generate/batch_memory.py``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import tempfile
import threading
from pathlib import Path

import psutil  # type: ignore[import-untyped]

# Run as a script (python bench/generate/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.batch import GenerateBatch, GenerationOptions, JsonlResultSink, run_batch
from airflow_provider_ollama.hooks.ollama import OllamaHook
from bench.generate.emulated import Stopwatch, emulated_server, machine_line, print_table

ITEMS = 10_000
SLOTS = 8
OPTIONS = GenerationOptions(options={"num_predict": 32, "seed": 1})
#: Growth allowed with a sink: a reorder window and one part of records, whatever ITEMS is.
GROWTH_LIMIT_MB = 32.0
QUIET = logging.getLogger("bench.quiet")
QUIET.setLevel(logging.WARNING)


class PeakRss:
    """Samples this process's RSS every 50 ms in a thread; ``peak_mb`` after the block."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_mb = self.peak_mb = 0.0

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.start_mb = self.peak_mb = self._process.memory_info().rss / 2**20
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def run(url: str, model: str, sink: JsonlResultSink | None) -> int:
    prompts = [f"Classify support ticket number {index} by urgency." for index in range(ITEMS)]
    outcome = await run_batch(
        OllamaHook(base_url=url),
        GenerateBatch(model, prompts, options=OPTIONS),
        max_concurrency=SLOTS,
        sink=sink,
        log=QUIET,
    )
    return outcome.summary["succeeded"]


def main() -> int:
    rows: list[list[object]] = []
    growth_with_sink = 0.0
    with emulated_server(num_parallel=SLOTS) as server, tempfile.TemporaryDirectory() as scratch:
        # Warm imports, the connection pool and Airflow's file-system registry before measuring.
        asyncio.run(run(server.url, server.model, JsonlResultSink(f"file://{scratch}/warm")))
        for label, sink in (
            ("JSONL to file://", JsonlResultSink(f"file://{scratch}/results")),
            ("records in memory", None),
        ):
            with PeakRss() as rss, Stopwatch() as watch:
                assert asyncio.run(run(server.url, server.model, sink)) == ITEMS
            growth = rss.peak_mb - rss.start_mb
            growth_with_sink = growth if sink is not None else growth_with_sink
            rows.append([label, ITEMS, watch.seconds, rss.start_mb, rss.peak_mb, growth])

    print(f"{ITEMS} prompts (num_predict 32), {SLOTS} slots, no added latency; {machine_line()}")
    print_table(["results", "items", "wall s", "RSS before MB", "RSS peak MB", "growth MB"], rows)
    ok = growth_with_sink <= GROWTH_LIMIT_MB
    print("PASS" if ok else "FAIL", f"(target: growth with a JSONL output <= {GROWTH_LIMIT_MB:.0f} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
