"""The runner process: llama.cpp's own server loaded with one model, as Ollama 0.33 runs ``llama-server``.

Ollama starts one ``llama-server`` process per loaded model and talks to it over HTTP on 127.0.0.1, so
a model that fails to load or crashes takes down only that process and becomes an error message. The
emulator does the same with xllamacpp, which is llama-server's C++ code built as a Python extension:
this module is the process. It loads the model, prints one JSON line ``{"address": ...}`` on stdout
once the server answers, and serves until its stdin closes (the emulator ended or unloaded it), so a
runner never outlives the emulator that started it. llama.cpp's log goes to stderr, where the engine
reads load errors and buffer sizes from it as Ollama does.

    python -m airflow_provider_ollama.testing.emulator.llama.runner --model FILE --ctx-size 4096 --parallel 1
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="llama-runner", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="GGUF file with real weights")
    parser.add_argument("--ctx-size", type=int, required=True, help="context of all slots together")
    parser.add_argument("--parallel", type=int, default=1, help="slots (OLLAMA_NUM_PARALLEL)")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="logical and physical batch; 0 keeps the default"
    )
    parser.add_argument("--threads", type=int, default=0, help="0 lets llama.cpp choose, as Ollama does")
    parser.add_argument("--embedding", action="store_true", help="serve embeddings (a model with pooling)")
    parser.add_argument(
        "--no-jinja",
        action="store_true",
        help="prompts arrive rendered (Ollama's Go template path): do not parse the GGUF's chat template",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    import xllamacpp  # the [real-model] extra; the engine checks it is installed before starting us

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx_size
    params.n_parallel = args.parallel
    params.embedding = args.embedding
    params.offline = True
    params.port = 0  # any free port; the address is reported on stdout
    # Verbosity 4 keeps the "... buffer size = N MiB" lines the engine sums into the loaded size.
    params.verbosity = 4
    if args.batch_size > 0:
        params.n_batch = params.n_ubatch = args.batch_size
    if args.threads > 0:
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = args.threads
    if args.no_jinja:
        # As Ollama launches llama-server for Go-rendered prompts: a placeholder template, never used.
        params.use_jinja = False
        params.chat_template = "chatml"
    try:
        server = xllamacpp.Server(params)
    except Exception as error:  # llama.cpp reports a failed load as an exception
        # Not an Ollama error prefix: llama.cpp has already logged the cause ("error loading model: ...").
        print(f"llama runner: {error}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps({"address": server.listening_address}), flush=True)
    # Serve until the engine closes our stdin (or dies, which closes it too).
    while sys.stdin.buffer.read(65536):
        pass
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
