"""The README's main job: pull a model from a registry and generate with it, offline.

Starts the registry emulator, uses a real Ollama when one answers (``OLLAMA_HOST`` or
127.0.0.1:11434) and the emulator otherwise, pulls ``tiny`` through OllamaHook, generates, prints.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.testing import OllamaEmulator, RegistryEmulator

PROMPTS = ["Name three uses of a local language model.", "Summarise why model caches matter."]


def real_ollama_url() -> str | None:
    """The URL of a real Ollama that answers, if any."""
    candidate = os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
    if "://" not in candidate:
        candidate = f"http://{candidate}"
    hook = OllamaHook(base_url=candidate, timeout=2)
    return candidate if hook.is_ready(timeout=1.0) else None


def main() -> int:
    with RegistryEmulator() as registry, tempfile.TemporaryDirectory(prefix="ollama-main-job-") as store:
        url = real_ollama_url()
        emulator = None if url else OllamaEmulator(models_dir=Path(store)).start()
        try:
            server_url = url or emulator.url  # type: ignore[union-attr]
            which = "a real Ollama" if url else "the Ollama emulator (no real Ollama answered)"
            hook = OllamaHook(base_url=server_url)
            print(f"Server: {which} at {server_url}, version {hook.version()}")
            model = registry.model_name("tiny")
            digest = hook.pull(model, insecure=True)
            print(f"Pulled {model} ({digest}) from the registry at {registry.url}")
            for prompt in PROMPTS:
                answer = hook.generate(model, prompt, options={"seed": 7, "num_predict": 24})
                print(
                    f"\n> {prompt}\n{answer.response}\n  [{answer.eval_count} tokens, {answer.done_reason}]"
                )
        finally:
            if emulator is not None:
                emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
