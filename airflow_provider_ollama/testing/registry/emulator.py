"""The registry emulator as a handle: start it on a free loopback port, pull from it, stop it.

Tests use it in-process (see the ``ollama_registry`` fixture); the CLI runs the same thing in its
own process::

    with RegistryEmulator() as registry:
        client.pull(registry.model_name("tiny"), insecure=True)
        assert registry.stats.blob_bytes_served > 0
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.testing._lifecycle import StartStopContext
from airflow_provider_ollama.testing._serving import BackgroundServer
from airflow_provider_ollama.testing.registry.app import build_app
from airflow_provider_ollama.testing.registry.auth import RegistryAuth
from airflow_provider_ollama.testing.registry.catalogue import (
    Catalogue,
    RegistryModel,
    RegistryModelSpec,
    default_catalogue,
)
from airflow_provider_ollama.testing.registry.faults import Faults
from airflow_provider_ollama.testing.registry.state import RegistryState
from airflow_provider_ollama.testing.registry.stats import RegistryStats, StatsSnapshot
from airflow_provider_ollama.testing.registry.uploads import Uploads


class RegistryEmulator(StartStopContext):
    """An Ollama registry on ``127.0.0.1`` serving a :class:`Catalogue` of synthetic models.

    :param catalogue: the models to serve; the default catalogue (``tiny``, ``tiny:q8``,
        ``tiny-embed``, ``tiny-think``) when omitted.
    :param storage_dir: where pushed blobs are kept; a temporary directory removed on stop if omitted.
    :param require_auth: answer every request without a token from the realm with a Bearer
        challenge, as registry.ollama.ai does for private models; the realm wants a request signed
        with an Ollama key (``known_keys``: the ``ssh-ed25519 ...`` public keys allowed, else any).
    """

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        storage_dir: Path | str | None = None,
        require_auth: bool = False,
        known_keys: frozenset[str] | None = None,
    ) -> None:
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.faults = Faults()
        self._stats = RegistryStats()
        self._bind = (host, port)
        self._own_storage = storage_dir is None
        self._storage = (
            Path(storage_dir) if storage_dir else Path(tempfile.mkdtemp(prefix="ollama-registry-"))
        )
        self.auth = RegistryAuth(required=require_auth, known_keys=known_keys)
        self._state = RegistryState(
            self.catalogue, self.faults, self._stats, Uploads(self._storage), self.auth
        )
        self._server: BackgroundServer | None = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"RegistryEmulator({where})"

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> RegistryEmulator:
        if self._server is None:
            server = BackgroundServer(build_app(self._state), host=self._bind[0], port=self._bind[1])
            server.start()
            self._server = server
        return self

    def stop(self) -> None:
        """Release stalled responses, stop serving, and delete pushed blobs it stored itself."""
        self.faults.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._state.uploads.discard_all()
        if self._own_storage:
            shutil.rmtree(self._storage, ignore_errors=True)

    # ---------------------------------------------------------------------------------- address

    def _running(self) -> BackgroundServer:
        if self._server is None:
            raise RuntimeError(
                "the registry emulator is not running: call start() or use it as a context manager"
            )
        return self._server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._running().url

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the host part of model names pulled from this registry."""
        return self.url.removeprefix("http://")

    @property
    def storage_dir(self) -> Path:
        """Where pushed blobs are kept (removed on stop unless it was given)."""
        return self._storage

    @property
    def port(self) -> int:
        return int(self._running().port)

    def model_name(self, model: str) -> str:
        """The full name to pull ``model`` from here: ``tiny`` -> ``127.0.0.1:PORT/library/tiny:latest``."""
        name = ModelName.parse(model)
        return f"{self.host}/{name.namespace}/{name.model}:{name.tag}"

    # ------------------------------------------------------------------------- models and stats

    def add_model(self, spec: RegistryModelSpec) -> RegistryModel:
        """Serve one more model (or replace one with the same name); works while running."""
        return self.catalogue.add(spec)

    @property
    def models(self) -> list[str]:
        """Every ``namespace/model:tag`` served, pushed ones included."""
        return [f"{repository}:{tag}" for repository, tag in self.catalogue.names]

    @property
    def stats(self) -> StatsSnapshot:
        """The request and byte counters now (a snapshot; read it again after more requests)."""
        return self._stats.snapshot()

    def reset(self) -> None:
        """Switch every fault off and zero the counters (the models stay)."""
        self.faults.clear()
        self._stats.reset()
