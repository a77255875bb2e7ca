"""What the registry emulator's routes share: its catalogue, faults, counters and uploads.

The registry routes and the ``/_emulator`` control routes both act on one of these, and the
:class:`~airflow_provider_ollama.testing.registry.emulator.RegistryEmulator` handle owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_ollama.testing.registry.auth import RegistryAuth
from airflow_provider_ollama.testing.registry.catalogue import Catalogue
from airflow_provider_ollama.testing.registry.faults import Faults
from airflow_provider_ollama.testing.registry.stats import RegistryStats
from airflow_provider_ollama.testing.registry.uploads import Uploads


@dataclass
class RegistryState:
    catalogue: Catalogue
    faults: Faults
    stats: RegistryStats
    uploads: Uploads
    auth: RegistryAuth = field(default_factory=RegistryAuth)
