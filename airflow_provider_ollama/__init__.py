"""Apache Airflow provider for Ollama.

Importing this package is cheap on purpose: it must not import Airflow, because the emulator's
console script and pytest plugin live inside it and start in well under a second.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
