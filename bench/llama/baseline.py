"""Baseline for the real-model engine: llama.cpp (xllamacpp) driven in this process, no emulator.

Loads SmolLM2-135M-Instruct (the model ``smollm2:135m`` of the registry emulator) with the binding
directly and streams the same greedy generation several times, measuring:

- load time: building the server object (weights mapped, KV cache and compute buffers allocated);
- time to first token: from sending the request to the first streamed piece;
- tokens per second: generated tokens over the time from the first to the last piece, and llama.cpp's
  own ``predicted_per_second``.

With ``--engine`` it also runs the same generation through the emulator's engine
(:class:`LlamaModel`: a runner process and llama-server's HTTP ``/completion``), so the cost of the
process boundary shows before the HTTP routes are added on top. Run:

    .venv/bin/python bench/llama/baseline.py --runs 5 --engine
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_ollama.testing.emulator.llama import LlamaModel, ModelSpec
from airflow_provider_ollama.testing.emulator.llama.prompt import PromptTemplate, generate_messages
from airflow_provider_ollama.testing.registry.real_models import (
    SMOLLM2_PARAMS,
    SMOLLM2_SYSTEM,
    SMOLLM2_TEMPLATE,
    smollm2_weights,
)

PROMPT = "Write a short paragraph about the sea."
NUM_CTX = 2048


@dataclass
class Run:
    ttft_s: float
    tokens: int
    stream_tps: float  # tokens after the first over the time between first and last piece
    llama_tps: float  # llama.cpp's predicted_per_second


def _rendered_prompt() -> str:
    return PromptTemplate(SMOLLM2_TEMPLATE).render(generate_messages(PROMPT, model_system=SMOLLM2_SYSTEM))


class Binding:
    """The model loaded with xllamacpp in this process; :meth:`run` streams one greedy generation."""

    def __init__(self, path: str, threads: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = NUM_CTX
        params.n_parallel = 1
        params.n_batch = params.n_ubatch = 512
        params.verbosity = 0
        if threads:
            params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
        started = time.perf_counter()
        self.server = xllamacpp.Server(params)
        self.load_s = time.perf_counter() - started
        self.prompt = _rendered_prompt()

    def run(self, num_predict: int) -> Run:
        stamps: list[float] = []
        final: dict[str, Any] = {}

        def on_chunk(chunk: Any) -> bool:
            stamps.append(time.perf_counter())
            if isinstance(chunk, dict) and chunk.get("timings"):
                final.update(chunk["timings"])
            return False

        request = {
            "prompt": self.prompt,
            "max_tokens": num_predict,
            "temperature": 0,
            "seed": 42,
            "stream": True,
            "cache_prompt": False,  # as the emulator sends it: each prompt evaluated whole
            "stop": SMOLLM2_PARAMS["stop"],
        }
        sent = time.perf_counter()
        self.server.handle_completions(request, on_chunk)
        tokens = int(final.get("predicted_n", 0))
        return Run(
            ttft_s=stamps[0] - sent,
            tokens=tokens,
            stream_tps=(tokens - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0,
            llama_tps=float(final.get("predicted_per_second", 0.0)),
        )


async def engine_run(model: LlamaModel, num_predict: int) -> Run:
    stamps: list[float] = []
    tokens, eval_ns = 0, 0
    sent = time.perf_counter()
    async for answer in model.generate(
        PROMPT, options={"temperature": 0, "seed": 42, "num_predict": num_predict}
    ):
        stamps.append(time.perf_counter())
        if answer.done:
            tokens, eval_ns = answer.eval_count, answer.eval_duration_ns
    pieces = stamps[:-1]  # the final chunk comes after a tokenize call for the context
    return Run(
        ttft_s=stamps[0] - sent,
        tokens=tokens,
        stream_tps=(tokens - 1) / (pieces[-1] - pieces[0]) if len(pieces) > 1 else 0.0,
        llama_tps=tokens / (eval_ns / 1e9) if eval_ns else 0.0,
    )


async def interleaved(path: str, rounds: int, num_predict: int, threads: int, engine: bool) -> None:
    """Rounds that run the binding and (with ``engine``) the engine back to back, in alternating order,
    so both see the same load on a shared machine; the ratio is taken per round."""
    binding = Binding(path, threads)
    binding.run(4)  # warm-up: the first decode allocates
    model = None
    engine_load_s = 0.0
    if engine:
        spec = ModelSpec(
            path=Path(path), template=SMOLLM2_TEMPLATE, system=SMOLLM2_SYSTEM, parameters=SMOLLM2_PARAMS
        )
        started = time.perf_counter()
        model = await LlamaModel.load(spec, num_ctx=NUM_CTX, num_thread=threads)
        engine_load_s = time.perf_counter() - started
        await engine_run(model, 4)
    binding_runs: list[Run] = []
    engine_runs: list[Run] = []
    try:
        for number in range(rounds):
            if model is not None and number % 2:
                engine_runs.append(await engine_run(model, num_predict))
            binding_runs.append(await asyncio.to_thread(binding.run, num_predict))
            if model is not None and not number % 2:
                engine_runs.append(await engine_run(model, num_predict))
    finally:
        if model is not None:
            await model.close()
    print(table_row("binding in process", binding.load_s, binding_runs))
    if engine_runs:
        print(table_row("engine (runner + /completion)", engine_load_s, engine_runs))
        ratios = [e.stream_tps / b.stream_tps for e, b in zip(engine_runs, binding_runs, strict=True)]
        print(
            f"\nengine/binding tokens per second, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"median {statistics.median(ratios):.2f}"
        )


def table_row(name: str, load_s: float, runs: list[Run]) -> str:
    """One path's row of the results table: medians of the runs."""

    def median(values: list[float]) -> float:
        return statistics.median(values)

    return (
        f"| {name} | {load_s:.2f} | {median([r.ttft_s for r in runs]) * 1000:.0f} | "
        f"{median([r.stream_tps for r in runs]):.1f} | {median([r.llama_tps for r in runs]):.1f} | "
        f"{runs[0].tokens} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="rounds")
    parser.add_argument("--num-predict", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="0: llama.cpp decides (as Ollama)")
    parser.add_argument("--engine", action="store_true", help="also through the emulator's engine")
    args = parser.parse_args()
    weights, _ = smollm2_weights()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.runs} rounds of {args.num_predict} tokens, medians")
    print("| path | load s | time to first token ms | tokens/s (stream) | tokens/s (llama.cpp) | tokens |")
    print("|---|---|---|---|---|---|")
    asyncio.run(interleaved(str(weights.path), args.runs, args.num_predict, args.threads, args.engine))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
