"""Memory while streaming a long generation through the hook's client: RSS must stay flat.

Streams ``num_predict`` 200,000 tokens (a long JSON array) from the emulator (in its own process, so only the client is
measured), counting chunks and sampling this process's RSS; growth must not follow the output size.
Run: ``.venv/bin/python bench/generate/stream_memory.py``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped]

# Run as a script (python bench/generate/<name>.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.hooks.ollama import OllamaHook
from bench.generate.emulated import Stopwatch, emulated_server, machine_line, print_table

TOKENS = 200_000
SAMPLES = 10
#: The emulator's plain-text answers stop after at most 64 tokens, as a model reaching its end would;
#: an array this long makes it produce more than TOKENS tokens, which num_predict then cuts.
LONG_ANSWER_SCHEMA = {
    "type": "array",
    "minItems": TOKENS // 4,
    "maxItems": TOKENS // 4,
    "items": {"type": "string", "minLength": 30, "maxLength": 40},
}
#: RSS may grow by this much at most (allocator noise, lazily imported code), whatever the output size.
GROWTH_LIMIT_MB = 16.0


async def stream(url: str, model: str) -> tuple[int, int, list[tuple[int, float]]]:
    """Chunks and characters received, and (chunks, RSS MB) samples along the way."""
    process = psutil.Process()
    client = await OllamaHook(base_url=url).aget_client()
    chunks = characters = 0
    samples = [(0, process.memory_info().rss / 2**20)]
    every = TOKENS // SAMPLES
    response = await client.generate(
        model,
        "List every sentence you know.",
        stream=True,
        format=LONG_ANSWER_SCHEMA,
        options={"num_predict": TOKENS, "seed": 1},
    )
    async for chunk in response:
        chunks += 1
        characters += len(chunk.response or "")
        if chunks % every == 0:
            samples.append((chunks, process.memory_info().rss / 2**20))
    return chunks, characters, samples


def main() -> int:
    with emulated_server(num_parallel=1, context_length=TOKENS * 2) as server:
        gc.collect()
        with Stopwatch() as watch:
            chunks, characters, samples = asyncio.run(stream(server.url, server.model))

    print(
        f"streamed {chunks} chunks ({characters / 2**20:.1f} MiB of text) in {watch.seconds:.1f} s "
        f"through OllamaHook.aget_client(); {machine_line()}"
    )
    baseline = samples[1][1] if len(samples) > 1 else samples[0][1]
    print_table(
        ["chunks received", "RSS MB", "growth since first sample MB"],
        [[count, rss, rss - baseline] for count, rss in samples],
    )
    growth = samples[-1][1] - baseline
    ok = chunks >= TOKENS * 0.99 and growth <= GROWTH_LIMIT_MB
    print("PASS" if ok else "FAIL", f"(target: RSS growth <= {GROWTH_LIMIT_MB:.0f} MB over the stream)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
