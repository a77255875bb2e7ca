"""The one Ollama release the emulator imitates, and the build facts a real server of it reports.

Everything the emulator answers follows the source of this tag (github.com/ollama/ollama); the audit
in ``docs/emulator/ollama-0.33-audit.md`` maps each behaviour to the file and function it follows, so
moving to another release means diffing the source between tags and working through that table.
"""

from __future__ import annotations

#: What ``/api/version`` reports and ``Listening on ... (version X)`` prints: the tag without its ``v``.
OLLAMA_VERSION = "0.33.0-rc2"
#: The git tag of Ollama's source the emulator follows.
OLLAMA_SOURCE_TAG = "v0.33.0-rc2"
#: The llama.cpp build that tag vendors (its ``LLAMA_CPP_VERSION``); relayed llama-server texts are its.
LLAMA_CPP_BUILD = "b10488"
#: The Go toolchain of that tag's go.mod, which a release build of it reports in its User-Agent.
GO_VERSION = "go1.26.0"


def registry_user_agent(version: str = OLLAMA_VERSION) -> str:
    """The ``User-Agent`` Ollama's registry client sends (``makeRequest`` in server/images.go)."""
    return f"ollama/{version} (amd64 linux) Go/{GO_VERSION}"
