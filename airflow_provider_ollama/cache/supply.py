"""Where a task's models come from: the one entry point operators call to get models onto a server.

The order is always the same: what the server already has is left alone, what the S3 cache has is
restored (verified), the rest is pulled from the registry, and what was pulled is saved to the cache at
once. Without a cache it is just "pull what is missing". A per-task server's store is this task's disk
(restore into it, save from it); a shared server is reached over HTTP (see ``preparation.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from airflow_provider_ollama.cache.host_cache import HostBlobCache
from airflow_provider_ollama.cache.policy import CachePolicy
from airflow_provider_ollama.cache.preparation import LocalStoreCache, ServerCache, SharedServerCache
from airflow_provider_ollama.cache.reports import CacheRunReport
from airflow_provider_ollama.cache.s3 import S3ModelCache
from airflow_provider_ollama.cache.settings import ModelCache
from airflow_provider_ollama.hooks.ollama import OllamaHook
from airflow_provider_ollama.pulling.missing import pull_missing_models
from airflow_provider_ollama.pulling.retry import PulledModel, pull_models_blocking
from airflow_provider_ollama.store import ModelStore

log = logging.getLogger(__name__)

#: Pulls the given models on the server and reports each; the pull operator's own (retries, progress,
#: deferral to the triggerer), or the pull engine's defaults.
PullFunction = Callable[[list[str]], Sequence[PulledModel]]


@dataclass
class ModelSupply:
    """Gets models onto one server: from the S3 cache where it can, else from the registry, then saves them.

    :meth:`prepare` makes sure every model is there (a per-task server's
    :class:`~airflow_provider_ollama.server.ModelPreparer`, and the shared server's preparation);
    :meth:`pull` gets every model afresh (the pull operator). :attr:`report` tells, per model, where it
    came from (None without a cache).

    :param cache: the S3 model cache, or None to pull from the registry only.
    :param host_cache: the worker's verified blob cache that per-task stores hard-link from.
    :param insecure: pulls of this task use plain HTTP (beyond ``[ollama] insecure_registries``).
    """

    cache: S3ModelCache | None = None
    _: KW_ONLY
    host_cache: HostBlobCache | None = None
    insecure: bool = False
    #: Where each model came from, once :meth:`prepare` or :meth:`pull` ran with a cache.
    report: CacheRunReport | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: ModelCache | None, *, insecure: bool = False) -> ModelSupply:
        """The supply a task's rendered ``cache=`` settings describe (None: the registry only)."""
        if settings is None:
            return cls(insecure=insecure)
        return cls(settings.open(), host_cache=settings.host_blob_cache(), insecure=insecure)

    def prepare(self, hook: OllamaHook, models: Sequence[str], *, models_dir: Path | None = None) -> None:
        """Have every model of ``models`` on ``hook``'s server: those it lacks come from the cache, else
        from the registry (and are saved). ``models_dir`` is a per-task server's store; None for a
        shared server. With the ``refresh`` policy every model is pulled, present or not."""
        source = self._source(models_dir)
        if source is None:
            pull_missing_models(hook, models, insecure=self.insecure)
            return
        refresh = source.cache.policy is CachePolicy.REFRESH
        for model in models:
            if not refresh and hook.has_model(model):
                source.already_present(model)
                continue
            if source.supply(hook, model):
                continue
            source.before_pull(model)
            (pulled,) = pull_models_blocking(hook, [model], insecure=self.insecure, logger=log)
            source.pulled(hook, model, downloaded_bytes=pulled.downloaded_bytes)
        self._summarise(source)

    def pull(
        self, hook: OllamaHook, models: Sequence[str], pull: PullFunction, *, models_dir: Path | None = None
    ) -> dict[str, str]:
        """Get every model of ``models`` afresh and return ``{model: digest}``: from the cache where it has
        the model, through ``pull`` otherwise (which may defer the task: :attr:`report` is complete up to
        the pull then), each pulled model saved to the cache right after."""
        source = self._source(models_dir)
        if source is None:
            return {result.model: result.digest for result in pull(list(models))}
        to_pull = [model for model in models if not source.supply(hook, model)]
        for model in to_pull:
            source.before_pull(model)
        for result in pull(to_pull) if to_pull else []:
            source.pulled(hook, result.model, downloaded_bytes=result.downloaded_bytes)
        self._summarise(source)
        return {model: source.report.outcome(model).digest or hook.model_digest(model) for model in models}

    def _source(self, models_dir: Path | None) -> ServerCache | None:
        if self.cache is None:
            return None
        source: ServerCache
        if models_dir is not None:
            store = ModelStore(models_dir)
            source = LocalStoreCache(self.cache, store, host_cache=self.host_cache, insecure=self.insecure)
        else:
            source = SharedServerCache(self.cache, insecure=self.insecure)
        self.report = source.report
        return source

    @staticmethod
    def _summarise(source: ServerCache) -> None:
        if source.report.models:
            log.info(source.report.summary())
