"""The emulator's second engine: models with real weights, run by llama.cpp as Ollama 0.33 runs them.

Ollama 0.33 starts llama.cpp's ``llama-server`` for each loaded model and sends it prompts rendered
from the model's Go template. This package does the same with xllamacpp (llama-server's own C++ server
as a Python extension, installed by the ``real-model`` extra), one runner process per loaded model:

- :func:`choose_engine` decides per model file: real weights go to llama.cpp, the header-only
  synthetic GGUFs keep the deterministic engine (one log line says which and why);
- :func:`model_spec` reads a stored model (``LocalModel``) into a :class:`ModelSpec` (GGUF, template,
  system, messages, params); :class:`LlamaModel` loads it
  with ``num_ctx``, ``num_parallel`` slots and batch, and offers ``generate``, ``chat`` (streamed
  :class:`Answer` pieces with real counts and durations), ``embed``, ``tokenize``, ``size`` and
  ``close``; a model that cannot load raises :class:`RunnerError` with Ollama's message.

Nothing here knows the HTTP routes; the emulator's route layer calls it.
"""

from airflow_provider_ollama.testing.emulator.llama.engine import Answer, LlamaModel, ModelSpec, model_spec
from airflow_provider_ollama.testing.emulator.llama.process import RunnerError
from airflow_provider_ollama.testing.emulator.llama.requests import InvalidFormat
from airflow_provider_ollama.testing.emulator.llama.weights import (
    EngineChoice,
    choose_engine,
    engine_available,
    has_real_weights,
)

__all__ = [
    "Answer",
    "EngineChoice",
    "InvalidFormat",
    "LlamaModel",
    "ModelSpec",
    "RunnerError",
    "choose_engine",
    "engine_available",
    "has_real_weights",
    "model_spec",
]
