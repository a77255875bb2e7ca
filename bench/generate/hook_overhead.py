"""What OllamaHook adds to a generate call, compared with the raw ``ollama`` client on the same server.

2,000 small sequential generate calls each way, interleaved in rounds of 100 (A/B, then B/A) so
drift on a shared machine hits both sides; the median of the per-round ratios is the result.
Target (issue 5): within 5%. Run: ``.venv/bin/python bench/generate/hook_overhead.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import ollama
from emulated import emulated_server, machine_line, print_table

from airflow_provider_ollama.hooks.ollama import OllamaHook

CALLS = 2_000
ROUND = 100
OPTIONS = {"num_predict": 4, "seed": 1}


def sync_round(call: Callable[[str], object]) -> float:
    start = time.perf_counter()
    for index in range(ROUND):
        call(f"prompt {index}")
    return time.perf_counter() - start


async def async_round(call: Callable[[str], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for index in range(ROUND):
        await call(f"prompt {index}")
    return time.perf_counter() - start


def interleaved_ratios(
    raw_round: Callable[[], float], hook_round: Callable[[], float]
) -> tuple[list[float], float, float]:
    """Per-round hook/raw time ratios, and the total seconds of each side."""
    ratios, raw_total, hook_total = [], 0.0, 0.0
    for number in range(CALLS // ROUND):
        if number % 2:
            hook_seconds, raw_seconds = hook_round(), raw_round()
        else:
            raw_seconds, hook_seconds = raw_round(), hook_round()
        ratios.append(hook_seconds / raw_seconds)
        raw_total += raw_seconds
        hook_total += hook_seconds
    return ratios, raw_total, hook_total


async def measure_async(url: str, model: str) -> tuple[list[float], float, float]:
    raw = ollama.AsyncClient(host=url)
    hook = OllamaHook(base_url=url)

    async def raw_call(prompt: str) -> object:
        return await raw.generate(model, prompt, options=OPTIONS)

    async def hook_call(prompt: str) -> object:
        return await hook.agenerate(model, prompt, options=OPTIONS)

    # Each side's first call opens its connection pool; neither pays for that in a round.
    await raw_call("warm up")
    await hook_call("warm up")
    ratios, raw_total, hook_total = [], 0.0, 0.0
    for number in range(CALLS // ROUND):
        if number % 2:
            hook_seconds = await async_round(hook_call)
            raw_seconds = await async_round(raw_call)
        else:
            raw_seconds = await async_round(raw_call)
            hook_seconds = await async_round(hook_call)
        ratios.append(hook_seconds / raw_seconds)
        raw_total += raw_seconds
        hook_total += hook_seconds
    return ratios, raw_total, hook_total


def main() -> int:
    with emulated_server(num_parallel=1) as server:
        raw = ollama.Client(host=server.url)
        hook = OllamaHook(base_url=server.url)
        raw.generate(server.model, "warm up", options=OPTIONS)
        hook.generate(server.model, "warm up", options=OPTIONS)
        sync_result = interleaved_ratios(
            lambda: sync_round(lambda prompt: raw.generate(server.model, prompt, options=OPTIONS)),
            lambda: sync_round(lambda prompt: hook.generate(server.model, prompt, options=OPTIONS)),
        )
        async_result = asyncio.run(measure_async(server.url, server.model))

    print(f"{CALLS} sequential generate calls each way (num_predict 4, no added latency); {machine_line()}")
    rows: list[list[object]] = []
    medians: list[float] = []
    for name, (ratios, raw_total, hook_total) in (("sync", sync_result), ("async", async_result)):
        medians.append(statistics.median(ratios))
        rows.append(
            [name, raw_total / CALLS * 1000, hook_total / CALLS * 1000, medians[-1], min(ratios), max(ratios)]
        )
    print_table(["client", "raw ms/call", "hook ms/call", "median ratio", "min", "max"], rows)
    ok = all(median <= 1.05 for median in medians)
    print("PASS" if ok else "FAIL", "(target: median hook/raw ratio <= 1.05)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
