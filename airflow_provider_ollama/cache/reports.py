"""What one cache operation did to one model: counts, bytes, time, and the error if it failed.

Reports go to the task log as one line and to XCom through :meth:`to_dict`, which holds only JSON
types, so a downstream task can see hits, misses and throughput without parsing logs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from airflow_provider_ollama import sizes

RestoreStatus = Literal["hit", "miss", "skipped", "failed"]
SaveStatus = Literal["saved", "skipped", "failed"]


def _size(size: int) -> str:
    # Binary units (MiB), in which the cache's S3 parts and docs are given.
    return sizes.format_size(size, binary=True)


@dataclass
class _Transfer:
    """What a restore and a save both tell: which model, where, how long, and the error if it failed."""

    model: str
    location: str
    status: str = ""
    manifest_digest: str | None = None
    seconds: float = 0.0
    error: str | None = None

    #: The status of a completed operation, whose log line gives the counts.
    _done: ClassVar[str]
    #: The log line's words for the operation (``{model}`` is filled in).
    _action: ClassVar[str]
    #: The field counting the bytes moved between the worker and S3.
    _bytes_field: ClassVar[str]

    @property
    def bytes_transferred(self) -> int:
        """Bytes moved between the worker and S3."""
        moved: int = getattr(self, self._bytes_field)
        return moved

    @property
    def megabytes_per_second(self) -> float:
        """Throughput between the worker and S3 (decimal MB/s; 0 when nothing was transferred)."""
        return sizes.megabytes_per_second(self.bytes_transferred, self.seconds)

    def to_dict(self) -> dict[str, str | int | float | bool | None]:
        return {**dataclasses.asdict(self), "mb_per_s": self.megabytes_per_second}

    def summary(self) -> str:
        """The one log line for this operation."""
        line = f"S3 model cache {self._action.format(model=self.model)} {self.location}: {self.status}"
        if self.status == self._done:
            line += f", {self._details()}, {self.seconds:.1f} s, {self.megabytes_per_second:.0f} MB/s"
        if self.error:
            line += f": {self.error}"
        return line

    def _details(self) -> str:
        raise NotImplementedError


@dataclass
class RestoreReport(_Transfer):
    """Outcome of restoring one model from the cache into a local store.

    ``status`` is ``hit`` (the model is now complete in the store), ``miss`` (no entry in the cache),
    ``skipped`` (the policy does not read) or ``failed`` (``error`` says why; only when the caller
    asked for reports instead of exceptions).
    """

    status: RestoreStatus = "miss"
    blobs_downloaded: int = 0
    bytes_downloaded: int = 0
    #: Blobs linked or copied from the host's verified blob cache instead of downloaded.
    blobs_from_host_cache: int = 0
    bytes_from_host_cache: int = 0
    #: Blobs the store already had with the right size.
    blobs_already_local: int = 0

    _done, _action, _bytes_field = "hit", "restore of {model} from", "bytes_downloaded"

    @property
    def hit(self) -> bool:
        return self.status == "hit"

    def to_dict(self) -> dict[str, str | int | float | bool | None]:
        return {**super().to_dict(), "hit": self.hit}

    def _details(self) -> str:
        return (
            f"{self.blobs_downloaded} blob(s) downloaded ({_size(self.bytes_downloaded)}), "
            f"{self.blobs_from_host_cache} from the host cache, {self.blobs_already_local} already local"
        )


@dataclass
class SaveReport(_Transfer):
    """Outcome of saving one model from a local store to the cache.

    ``status`` is ``saved`` (the entry is complete in S3), ``skipped`` (the policy does not write) or
    ``failed`` (``error`` says why; only when the caller asked for reports instead of exceptions).
    """

    status: SaveStatus = "saved"
    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    #: Blobs S3 already held with the right size and digest: not uploaded again.
    blobs_already_cached: int = 0
    #: Blobs S3 held with the wrong size or digest, overwritten by the verified local copy.
    blobs_repaired: int = 0

    _done, _action, _bytes_field = "saved", "save of {model} to", "bytes_uploaded"

    def _details(self) -> str:
        return (
            f"{self.blobs_uploaded} blob(s) uploaded ({_size(self.bytes_uploaded)}), "
            f"{self.blobs_already_cached} already cached, {self.blobs_repaired} repaired"
        )


ModelStatus = Literal["hit", "miss", "repaired", "corrupt", "skipped"]


@dataclass
class ModelCacheOutcome:
    """Where one model a task needed came from, and what the cache did about it.

    ``status``: ``hit`` (restored from the cache, no registry involved), ``miss`` (not cached: pulled
    from the registry), ``repaired`` (the cached entry was corrupt or incomplete: pulled from the
    registry and the entry saved again), ``corrupt`` (the same, but the entry could not be repaired:
    the policy does not write, or the save failed) or ``skipped`` (the cache was not read: a policy
    that does not read, or the model was on the server already; ``reason`` says which).
    """

    model: str
    status: ModelStatus = "miss"
    reason: str | None = None
    bytes_from_s3: int = 0
    bytes_from_host_cache: int = 0
    bytes_from_registry: int = 0
    #: Time spent restoring from the cache (S3 and host cache), for the throughput.
    restore_seconds: float = 0.0
    seconds: float = 0.0
    #: The model's digest on the server afterwards.
    digest: str | None = None
    #: What the save after a pull did (``saved``, ``failed``, ``skipped``); None when nothing was saved.
    saved: SaveStatus | None = None
    #: Why the cache could not be used or written, when it could not.
    error: str | None = None

    @property
    def megabytes_per_second(self) -> float:
        """Restore throughput from S3 (decimal MB/s; 0 when nothing came from S3)."""
        return sizes.megabytes_per_second(self.bytes_from_s3, self.restore_seconds)

    def to_dict(self) -> dict[str, str | int | float | None]:
        return {**dataclasses.asdict(self), "mb_per_s": self.megabytes_per_second}

    def summary(self) -> str:
        """The one log line for this model."""
        parts = [f"S3 model cache: {self.model}: {self.status}"]
        if self.reason:
            parts.append(f"({self.reason})")
        sizes = []
        if self.bytes_from_s3:
            sizes.append(f"{_size(self.bytes_from_s3)} from S3 at {self.megabytes_per_second:.0f} MB/s")
        if self.bytes_from_host_cache:
            sizes.append(f"{_size(self.bytes_from_host_cache)} linked from the host cache")
        if self.bytes_from_registry or self.status in ("miss", "repaired", "corrupt"):
            sizes.append(f"{_size(self.bytes_from_registry)} from the registry")
        if self.saved:
            sizes.append(f"save {self.saved}")
        line = " ".join(parts) + (": " + ", ".join(sizes) if sizes else "") + f" ({self.seconds:.1f} s)"
        return line + (f"; {self.error}" if self.error else "")


@dataclass
class CacheRunReport:
    """Every model one task got through the cache: what goes to XCom (``to_dict``) and the log."""

    location: str
    policy: str
    models: list[ModelCacheOutcome] = dataclasses.field(default_factory=list)

    def outcome(self, model: str) -> ModelCacheOutcome:
        """The outcome of ``model``, added if this is its first mention."""
        for outcome in self.models:
            if outcome.model == model:
                return outcome
        outcome = ModelCacheOutcome(model)
        self.models.append(outcome)
        return outcome

    @property
    def hits(self) -> int:
        return sum(outcome.status == "hit" for outcome in self.models)

    @property
    def misses(self) -> int:
        """Models whose entry was missing or unusable, so they came from the registry."""
        return sum(outcome.status in ("miss", "repaired", "corrupt") for outcome in self.models)

    @property
    def bytes_from_s3(self) -> int:
        return sum(outcome.bytes_from_s3 for outcome in self.models)

    @property
    def bytes_from_registry(self) -> int:
        return sum(outcome.bytes_from_registry for outcome in self.models)

    @property
    def megabytes_per_second(self) -> float:
        seconds = sum(outcome.restore_seconds for outcome in self.models)
        return sizes.megabytes_per_second(self.bytes_from_s3, seconds)

    def to_dict(self) -> dict[str, object]:
        """Small and JSON-native: totals, then one entry per model under ``models``."""
        return {
            "location": self.location,
            "policy": self.policy,
            "hits": self.hits,
            "misses": self.misses,
            "bytes_from_s3": self.bytes_from_s3,
            "bytes_from_host_cache": sum(outcome.bytes_from_host_cache for outcome in self.models),
            "bytes_from_registry": self.bytes_from_registry,
            "mb_per_s": self.megabytes_per_second,
            "models": {outcome.model: outcome.to_dict() for outcome in self.models},
        }

    def summary(self) -> str:
        return (
            f"S3 model cache {self.location} (policy {self.policy}): {len(self.models)} model(s), "
            f"{self.hits} hit(s), {self.misses} miss(es), {_size(self.bytes_from_s3)} from S3, "
            f"{_size(self.bytes_from_registry)} from the registry"
        )
