"""The Ollama server emulator: REST API, store, pull/create, generation and performance model."""
