"""The S3 cache as the source of one server's models: restore them there, count what was pulled, save it.

Two servers, two ways: a per-task server's store is this task's disk (restore into it, save from it right
after a pull: :class:`LocalStoreCache`); a shared server is reached only over HTTP (rebuild it there from
S3, and fill S3 from the registry on the worker: :class:`SharedServerCache`). Each records a
:class:`ModelCacheOutcome` per model in one :class:`CacheRunReport`. The order of supply, pull and save
is :class:`~airflow_provider_ollama.cache.supply.ModelSupply`'s, the one entry point operators use.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from airflow_provider_ollama.cache.host_cache import HostBlobCache
from airflow_provider_ollama.cache.reports import CacheRunReport, ModelCacheOutcome, RestoreReport
from airflow_provider_ollama.cache.s3 import S3ModelCache
from airflow_provider_ollama.exceptions import (
    OllamaCacheError,
    OllamaCacheIntegrityError,
    OllamaCacheUnavailableError,
)
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import ModelStore, blob_filename

if TYPE_CHECKING:
    from airflow_provider_ollama.hooks.ollama import OllamaHook

log = logging.getLogger(__name__)


class ServerCache(ABC):
    """The cache as the source of one server's models.

    :meth:`supply` puts a model on the server without the server pulling it, when it can; otherwise the
    caller has the server pull it and then calls :meth:`pulled`. Every outcome lands in :attr:`report`.
    With the ``refresh`` policy nothing is restored: every model comes from the registry.

    :param insecure: the registry may be plain HTTP (as for the server's own pulls).
    """

    def __init__(self, cache: S3ModelCache, *, insecure: bool = False) -> None:
        self.cache = cache
        self.insecure = insecure
        self.report = CacheRunReport(location=cache.location.url, policy=cache.policy.value)
        self._started: dict[str, float] = {}

    def supply(self, hook: OllamaHook, model: str) -> bool:
        """Make ``model`` available on ``hook``'s server from the cache; False if the server must pull it."""
        self._started[model] = time.monotonic()
        outcome = self.report.outcome(model)
        if not self.cache.policy.reads:
            outcome.status, outcome.reason = "skipped", f"policy {self.cache.policy.value}"
        elif self._restore(hook, model, outcome):
            self._done(hook, model, outcome)
            return True
        return self._fill_without_server_pull(hook, model, outcome)

    @abstractmethod
    def before_pull(self, model: str) -> None:
        """The server is about to pull ``model`` (after :meth:`supply` said it must)."""

    def pulled(self, hook: OllamaHook, model: str, *, downloaded_bytes: int) -> None:
        """The server pulled ``model`` from its registry: count it and fill the cache where possible.

        ``downloaded_bytes`` is what the server's progress reported; a store this task can read gives
        the exact number instead.
        """
        outcome = self.report.outcome(model)
        outcome.bytes_from_registry += self._pulled_bytes(model, downloaded_bytes)
        self._save(hook, model, outcome)
        self._done(hook, model, outcome)

    def _pulled_bytes(self, model: str, reported: int) -> int:
        return reported

    def already_present(self, model: str) -> None:
        """``model`` was on the server before anything was done: the cache was not needed."""
        outcome = self.report.outcome(model)
        outcome.status, outcome.reason = "skipped", "already on the server"
        log.info(outcome.summary())

    def _restore(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> bool:
        """Try the cache; True on a hit. A corrupt entry is logged and marked, never used."""
        try:
            restored = self._restore_from_cache(hook, model)
        except OllamaCacheIntegrityError as error:
            outcome.status, outcome.error = "corrupt", str(error)
            log.warning(
                "S3 model cache entry of %s is unusable, pulling it from the registry: %s", model, error
            )
            return False
        outcome.bytes_from_s3 += restored.bytes_downloaded
        outcome.bytes_from_host_cache += restored.bytes_from_host_cache
        outcome.restore_seconds += restored.seconds
        if not restored.hit:
            outcome.status, outcome.reason = "miss", restored.error or "not in the cache"
            return False
        if not hook.has_model(model):
            outcome.status = "corrupt"
            outcome.error = f"restored from the cache, but the server at {hook.base_url} does not list it"
            log.warning("S3 model cache: %s; pulling %s from the registry", outcome.error, model)
            return False
        outcome.status = "hit"
        return True

    def _done(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> None:
        outcome.digest = hook.model_digest(model)
        outcome.seconds = round(time.monotonic() - self._started.pop(model, time.monotonic()), 3)
        log.info(outcome.summary())

    @abstractmethod
    def _restore_from_cache(self, hook: OllamaHook, model: str) -> RestoreReport:
        """Restore ``model`` from S3 onto the server (raises cache errors)."""

    @abstractmethod
    def _fill_without_server_pull(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> bool:
        """After a miss: get the model onto the server some way other than its own pull, if there is one."""

    @abstractmethod
    def _save(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> None:
        """After the server pulled ``model``: save it to the cache, if this server allows it."""


class LocalStoreCache(ServerCache):
    """A per-task server whose store is on this task's disk: restore into it, save from it after a pull.

    :param store: the server's ``OLLAMA_MODELS``.
    :param host_cache: the worker's verified blob cache, hard-linked from instead of downloading again.
    """

    def __init__(
        self,
        cache: S3ModelCache,
        store: ModelStore,
        *,
        host_cache: HostBlobCache | None = None,
        insecure: bool = False,
    ) -> None:
        super().__init__(cache, insecure=insecure)
        self.store = store
        self.host_cache = host_cache
        self._blobs_before: dict[str, set[str]] = {}

    def before_pull(self, model: str) -> None:
        blobs = self.store.blobs_dir
        self._blobs_before[model] = {path.name for path in blobs.iterdir()} if blobs.is_dir() else set()

    def _pulled_bytes(self, model: str, reported: int) -> int:
        """Sizes of the model's blobs that were not in the store before the pull (progress lines skip
        small blobs that finish between two reports)."""
        before = self._blobs_before.pop(model, None)
        manifest = self.store.read_manifest(ModelName.parse(model))
        if before is None or manifest is None:
            return reported
        blobs = {blob.digest: blob for blob in manifest.blobs}.values()
        return sum(blob.size for blob in blobs if blob_filename(blob.digest) not in before)

    def _restore_from_cache(self, hook: OllamaHook, model: str) -> RestoreReport:
        # Written while the server runs: Ollama reads manifests and blobs from disk on each request.
        return self.cache.restore(self.store, model, host_cache=self.host_cache)

    def _fill_without_server_pull(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> bool:
        return False  # the server pulls; the save afterwards reads its store

    def _save(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> None:
        # Right after the pull, not at teardown: a task that fails later has still filled the cache.
        saved = self.cache.save(self.store, model)
        outcome.saved = saved.status
        if saved.status == "failed":
            outcome.error = saved.error
        elif saved.status == "saved" and outcome.status == "corrupt":
            outcome.status = "repaired"


class SharedServerCache(ServerCache):
    """A server reached only over HTTP: rebuild models there from S3; on a miss, fill S3 on the worker.

    With a policy that writes, a miss is copied from the registry into S3 by the worker
    (:meth:`S3ModelCache.mirror`) and then restored onto the server through its blobs API, so the server
    never downloads from the registry and the next task finds it cached. If the worker cannot read the
    registry, the policy does not write, or the model cannot be rebuilt through the API, the server pulls
    it itself (and the cache stays unfilled: the server's store is not this task's to read).
    """

    def __init__(self, cache: S3ModelCache, *, insecure: bool = False) -> None:
        super().__init__(cache, insecure=insecure)
        self._not_rebuildable: set[str] = set()

    def _restore_from_cache(self, hook: OllamaHook, model: str) -> RestoreReport:
        try:
            return self.cache.restore_to_server(hook, model)
        except (OllamaCacheIntegrityError, OllamaCacheUnavailableError):
            raise
        except OllamaCacheError as error:
            # A sound entry that /api/create cannot rebuild (e.g. safetensors layers).
            return self._cannot_rebuild(model, error)

    def _fill_without_server_pull(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> bool:
        if not self.cache.policy.writes or model in self._not_rebuildable:
            return False
        mirrored = self.cache.mirror(model, insecure=self.insecure)
        if mirrored.status != "saved":
            outcome.error = mirrored.error
            log.warning("S3 model cache: could not copy %s from its registry; the server pulls it", model)
            return False
        outcome.bytes_from_registry += mirrored.bytes_uploaded
        outcome.saved = "saved"
        if outcome.status == "corrupt":
            outcome.status = "repaired"
        try:
            restored = self.cache.restore_to_server(hook, model, after_mirror=True)
        except (OllamaCacheIntegrityError, OllamaCacheUnavailableError):
            raise
        except OllamaCacheError as error:
            outcome.reason = self._cannot_rebuild(model, error).error
            return False
        outcome.bytes_from_s3 += restored.bytes_downloaded
        outcome.restore_seconds += restored.seconds
        self._done(hook, model, outcome)
        return True

    def before_pull(self, model: str) -> None:
        """Nothing to note: the server's store is out of sight."""

    def _save(self, hook: OllamaHook, model: str, outcome: ModelCacheOutcome) -> None:
        """Nothing to save from: the server's store is on its own disk."""

    def _cannot_rebuild(self, model: str, error: OllamaCacheError) -> RestoreReport:
        self._not_rebuildable.add(model)
        log.warning("S3 model cache: %s; the server pulls %s instead", error, model)
        return RestoreReport(model=model, location=self.cache.location.url, status="miss", error=str(error))
