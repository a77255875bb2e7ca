"""pytest fixtures for an emulated Ollama server and registry (filled in by the emulator work)."""
