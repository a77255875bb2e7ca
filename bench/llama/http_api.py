"""Real-model tokens per second through the emulator's HTTP API with OllamaHook, against the binding.

The same greedy generation of SmolLM2-135M-Instruct (``smollm2:135m``, pulled from the registry
emulator), the same prompt, rendered by the same template, the same context (2,048) and batch (512),
made two ways in the same run, in rounds that alternate which goes first:

- **HTTP API**: ``OllamaHook(...).get_client().generate(..., stream=True)`` against
  ``ollama-emulator serve`` in its own process, whose scheduler runs the model in a llama.cpp runner
  process (the path a DAG's task takes);
- **binding**: xllamacpp driven directly in one process of its own (``bench/llama/baseline.py``'s
  ``Binding``), no HTTP, no emulator: phase A's baseline.

Fairness: each path's llama.cpp runs in a process of its own with the same thread count, so the bench
process (the hook's client) competes with neither, and the binding's calling thread is the only
Python in its process, as the runner's is. Both processes stay loaded for the whole run, so their
OpenMP pools would spin against each other between tokens (phase A measured 4 tokens/s for both when
they did): both get ``OMP_WAIT_POLICY=passive`` (``--omp-wait`` changes it), which lets a pool that
has nothing to do sleep. Reported per path: load time (the binding's server construction; the
emulator's ``load_duration``), time to first token (request sent to first piece), tokens per second
over the stream (pieces after the first over the time between first and last) and llama.cpp's own
count; the ratio HTTP/binding per round and its median (target: at least 0.9).

    .venv/bin/python bench/llama/http_api.py --rounds 8 [--num-predict 64] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing.emulator.server import OllamaEmulatorProcess
from airflow_provider_ollama.testing.registry.emulator import RegistryEmulator
from airflow_provider_ollama.testing.registry.real_models import SMOLLM2_NAME, smollm2_weights
from bench.llama.baseline import NUM_CTX, PROMPT, Binding, Run, table_row

TARGET = 0.9


class BindingProcess:
    """The binding loaded in a child process that runs one generation per line it is sent."""

    def __init__(self, threads: int, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--binding-worker", "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.load_s = float(self._read()["load_s"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the binding process ended (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, num_predict: int) -> Run:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{num_predict}\n")
        self.process.stdin.flush()
        return Run(**self._read())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)


def binding_worker(threads: int) -> None:
    """The child's side: load, say how long it took, then one JSON line per requested generation."""
    weights, _ = smollm2_weights()
    binding = Binding(str(weights.path), threads)
    binding.run(4)  # warm-up: the first decode allocates
    print(json.dumps({"load_s": binding.load_s}), flush=True)
    for line in sys.stdin:
        print(json.dumps(asdict(binding.run(int(line)))), flush=True)


def http_run(hook: OllamaHook, model: str, num_predict: int) -> Run:
    """One streamed generation through the hook's client; the final object (which waits for a
    tokenize of prompt and answer, for ``context``) is not part of the token rate."""
    options = {"temperature": 0, "seed": 42, "num_predict": num_predict, "num_ctx": NUM_CTX}
    stamps: list[float] = []
    final: Any = None
    sent = time.perf_counter()
    for part in hook.get_client().generate(model, PROMPT, options=options, stream=True):
        if part.done:
            final = part
        elif part.response:
            stamps.append(time.perf_counter())
    tokens = int(final.eval_count or 0)
    eval_s = (final.eval_duration or 0) / 1e9
    return Run(
        ttft_s=stamps[0] - sent,
        tokens=tokens,
        stream_tps=(len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0,
        llama_tps=tokens / eval_s if eval_s else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--num-predict", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="0: llama.cpp decides (as Ollama)")
    parser.add_argument("--omp-wait", default="passive", help="OMP_WAIT_POLICY for both paths ('' unsets)")
    parser.add_argument("--binding-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.binding_worker:
        binding_worker(args.threads)
        return
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if args.omp_wait:
        env["OMP_WAIT_POLICY"] = args.omp_wait
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds of {args.num_predict} tokens, "
        f"threads {args.threads or 'llama.cpp default'}, OMP_WAIT_POLICY={args.omp_wait or 'unset'}; medians"
    )
    with RegistryEmulator() as registry:
        emulator_env = {"OMP_WAIT_POLICY": args.omp_wait} if args.omp_wait else {}
        # The runner's threads: the binding's (0: llama.cpp's choice for both, as Ollama's).
        with OllamaEmulatorProcess(
            registry_url=registry.url, llama_threads=args.threads, env=emulator_env
        ) as emulator:
            hook = OllamaHook(base_url=emulator.url, timeout=600)
            model = registry.model_name(SMOLLM2_NAME)
            hook.get_client().pull(model, insecure=True)
            options: dict[str, Any] = {"num_ctx": NUM_CTX}
            if args.threads:
                options["num_thread"] = args.threads
            # The first request loads the model (its load_duration) and warms it up, as the binding's.
            first = hook.get_client().generate(
                model, PROMPT, keep_alive=-1, options={**options, "num_predict": 4, "temperature": 0}
            )
            http_load_s = (first.load_duration or 0) / 1e9
            binding = BindingProcess(args.threads, env)
            binding_runs: list[Run] = []
            http_runs: list[Run] = []
            try:
                for number in range(args.rounds):
                    if number % 2:
                        http_runs.append(http_run(hook, model, args.num_predict))
                    binding_runs.append(binding.run(args.num_predict))
                    if not number % 2:
                        http_runs.append(http_run(hook, model, args.num_predict))
            finally:
                binding.close()
    print("| path | load s | time to first token ms | tokens/s (stream) | tokens/s (llama.cpp) | tokens |")
    print("|---|---|---|---|---|---|")
    print(table_row("binding, own process", binding.load_s, binding_runs))
    print(table_row("HTTP API (OllamaHook -> emulator -> runner)", http_load_s, http_runs))
    ratios = [h.stream_tps / b.stream_tps for h, b in zip(http_runs, binding_runs, strict=True)]
    median = statistics.median(ratios)
    print(
        f"\nHTTP/binding tokens per second, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {median:.2f} ({'PASS' if median >= TARGET else 'FAIL'} against {TARGET})"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
