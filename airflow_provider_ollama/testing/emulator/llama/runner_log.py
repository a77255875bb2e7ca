"""What the emulator reads from a runner's log: its last errors and the memory it allocated.

Ollama does the same with llama-server's output (``llm/status.go`` and the buffer-size parser of
``llm/llama_server.go``): error lines become the message a failed load or a crash reports, and the
"<component>: <backend> <kind> buffer size = N MiB" lines add up to the size ``/api/ps`` shows.
"""

from __future__ import annotations

import re
import threading

#: Where an error begins in a log line; the message is kept from that prefix on (Ollama's list).
ERROR_PREFIXES = (
    "panic:",
    "fatal error:",
    "error:",
    "Error:",
    "CUDA error",
    "ROCm error",
    "cudaMalloc failed",
    '"ERR"',
    "error loading model",
    "GGML_ASSERT",
    "llama_init_from_model:",
)
_OUT_OF_MEMORY = (
    "out of memory",
    "out of device memory",
    "failed to allocate",
    "allocation failed",
    "not enough memory",
    "insufficient memory",
)
#: Ollama keeps at most this much of the error text, dropping the oldest lines.
MAX_ERROR_BYTES = 8 * 1024
_BUFFER_SIZE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*):\s+(\S+)\s+(model|KV|compute|output|RS)\s+buffer size\s*=\s*([\d.]+)\s*MiB"
)
_MIB = 1 << 20


def error_in_line(line: str) -> str:
    """The error a log line reports (from its earliest known prefix), or ``""``."""
    starts = [(line.find(prefix), prefix) for prefix in ERROR_PREFIXES if prefix in line]
    if starts:
        index, _ = min(starts)
        return line[index:].rstrip()
    lowered = line.lower()
    return line.rstrip() if any(needle in lowered for needle in _OUT_OF_MEMORY) else ""


class RunnerLog:
    """Fed every stderr line of one runner; thread-safe reads of what it learnt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors = ""
        self._buffers: dict[tuple[str, str, str], int] = {}

    def feed(self, line: str) -> None:
        error = error_in_line(line)
        match = _BUFFER_SIZE.search(line)
        with self._lock:
            if error:
                text = f"{self._errors}\n{error}" if self._errors else error
                if len(text) > MAX_ERROR_BYTES:
                    text = text[-MAX_ERROR_BYTES:].split("\n", 1)[-1]
                self._errors = text
            if match:
                component, backend, kind, mib = match.groups()
                self._buffers[(component, backend, kind)] = int(float(mib) * _MIB)

    @property
    def last_error(self) -> str:
        """Every error line seen so far, oldest first, as Ollama's status writer keeps them."""
        with self._lock:
            return self._errors

    @property
    def allocated_bytes(self) -> int:
        """Model weights, KV cache and compute buffers the runner reported, in bytes (0 before load)."""
        with self._lock:
            return sum(self._buffers.values())
