"""What OllamaHook adds to a generate call, compared with the raw ``ollama`` client on the same server.

2,000 small sequential generate calls per side, interleaved in rounds of 100 whose order rotates, so
drift on a shared machine hits every side alike; the median of the per-round ratios is the result.
Sides: the raw client as ``ollama`` builds it (no timeout), the raw client with the hook's timeout
(httpx pays for a timeout on every read), and the hook. Target (issue 5): hook within 5% of raw.
Run: ``.venv/bin/python bench/generate/hook_overhead.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import ollama

# Run as a script (python bench/generate/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.hooks.ollama import OllamaHook
from bench.generate.emulated import emulated_server, machine_line, print_table

CALLS = 2_000
ROUND = 100
OPTIONS = {"num_predict": 4, "seed": 1}
#: The hook's default request timeout, given to the second raw client so only the hook's code differs.
HOOK_TIMEOUT_S = 300.0
SIDES = ("raw", "raw + timeout", "hook")


def sync_rounds(calls: dict[str, Callable[[str], object]]) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {side: [] for side in calls}
    for number in range(CALLS // ROUND):
        order = list(calls)[number % 3 :] + list(calls)[: number % 3]
        for side in order:
            start = time.perf_counter()
            for index in range(ROUND):
                calls[side](f"prompt {index}")
            seconds[side].append(time.perf_counter() - start)
    return seconds


async def async_rounds(calls: dict[str, Callable[[str], Awaitable[object]]]) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {side: [] for side in calls}
    for number in range(CALLS // ROUND):
        order = list(calls)[number % 3 :] + list(calls)[: number % 3]
        for side in order:
            start = time.perf_counter()
            for index in range(ROUND):
                await calls[side](f"prompt {index}")
            seconds[side].append(time.perf_counter() - start)
    return seconds


def measure_sync(url: str, model: str) -> dict[str, list[float]]:
    raw = ollama.Client(host=url)
    raw_timeout = ollama.Client(host=url, timeout=HOOK_TIMEOUT_S)
    hook = OllamaHook(base_url=url)
    calls: dict[str, Callable[[str], object]] = {
        "raw": lambda prompt: raw.generate(model, prompt, options=OPTIONS),
        "raw + timeout": lambda prompt: raw_timeout.generate(model, prompt, options=OPTIONS),
        "hook": lambda prompt: hook.generate(model, prompt, options=OPTIONS),
    }
    for call in calls.values():  # each side opens its connection before the clock runs
        call("warm up")
    return sync_rounds(calls)


async def measure_async(url: str, model: str) -> dict[str, list[float]]:
    raw = ollama.AsyncClient(host=url)
    raw_timeout = ollama.AsyncClient(host=url, timeout=HOOK_TIMEOUT_S)
    hook = OllamaHook(base_url=url)

    async def raw_call(prompt: str) -> object:
        return await raw.generate(model, prompt, options=OPTIONS)

    async def raw_timeout_call(prompt: str) -> object:
        return await raw_timeout.generate(model, prompt, options=OPTIONS)

    async def hook_call(prompt: str) -> object:
        return await hook.agenerate(model, prompt, options=OPTIONS)

    calls: dict[str, Callable[[str], Awaitable[object]]] = {
        "raw": raw_call,
        "raw + timeout": raw_timeout_call,
        "hook": hook_call,
    }
    for call in calls.values():
        await call("warm up")
    return await async_rounds(calls)


def ratio(seconds: dict[str, list[float]], side: str, baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(seconds[side], seconds[baseline], strict=True))


def main() -> int:
    with emulated_server(num_parallel=1) as server:
        results = {
            "sync": measure_sync(server.url, server.model),
            "async": asyncio.run(measure_async(server.url, server.model)),
        }

    print(f"{CALLS} sequential generate calls per side (num_predict 4, no added latency); {machine_line()}")
    rows: list[list[object]] = []
    hook_to_raw: list[float] = []
    for name, seconds in results.items():
        per_call = {side: statistics.median(seconds[side]) / ROUND * 1000 for side in SIDES}
        hook_to_raw.append(ratio(seconds, "hook", "raw"))
        rows.append(
            [
                name,
                per_call["raw"],
                per_call["raw + timeout"],
                per_call["hook"],
                hook_to_raw[-1],
                ratio(seconds, "hook", "raw + timeout"),
            ]
        )
    print_table(
        ["client", "raw ms/call", "raw+timeout ms/call", "hook ms/call", "hook/raw", "hook/raw+timeout"], rows
    )
    ok = all(value <= 1.05 for value in hook_to_raw)
    print("PASS" if ok else "FAIL", "(target: median hook/raw ratio <= 1.05)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
