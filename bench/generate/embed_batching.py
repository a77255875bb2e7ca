"""Embedding throughput by inputs per /api/embed request: one request with many inputs, or many requests?

Runs EmbedBatch over the same inputs with several ``batch_size`` values, against an emulator with no
added latency (what HTTP and JSON cost per request) and with a fixed per-request cost.
Run: ``.venv/bin/python bench/generate/embed_batching.py``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

# Run as a script (python bench/generate/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.batch import EmbedBatch, run_batch
from airflow_provider_ollama.hooks.ollama import OllamaHook
from bench.generate.emulated import Stopwatch, emulated_server, machine_line, print_table

INPUTS = 2_048
SLOTS = 8
BATCH_SIZES = (1, 8, 32, 128)
QUIET = logging.getLogger("bench.quiet")
QUIET.setLevel(logging.WARNING)


async def embed_all(url: str, model: str, texts: list[str], batch_size: int) -> int:
    outcome = await run_batch(
        OllamaHook(base_url=url),
        EmbedBatch(model, texts, batch_size=batch_size),
        max_concurrency=SLOTS,
        log=QUIET,
    )
    return outcome.summary["requests"]


def measure(latency: float, texts: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    with emulated_server(num_parallel=SLOTS, request_latency_seconds=latency) as server:
        for batch_size in BATCH_SIZES:
            with Stopwatch() as watch:
                requests = asyncio.run(embed_all(server.url, server.embed_model, texts, batch_size))
            rows.append(
                [f"{latency * 1000:.0f} ms", batch_size, requests, watch.seconds, len(texts) / watch.seconds]
            )
    return rows


def main() -> int:
    texts = [
        f"Customer review number {index}: the product arrived on time and works." for index in range(INPUTS)
    ]
    rows = measure(0.0, texts) + measure(0.01, texts)
    print(f"{INPUTS} inputs, max_concurrency {SLOTS}, emulator with {SLOTS} slots; {machine_line()}")
    print_table(["latency/request", "batch_size", "requests", "wall s", "inputs/s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
