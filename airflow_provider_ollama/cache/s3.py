"""S3ModelCache: save a model from a local Ollama store to S3 and restore it, verified, into another.

Entries mirror the store (blobs, then the manifest's exact bytes as the commit marker), so a manifest
in S3 always means a complete entry, and every restored byte is checked against its sha256 and size
before Ollama can see it. Unlike Metaflow's cache, the config blob is saved and everything is verified.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_ollama.cache.bucket import CacheBucket
from airflow_provider_ollama.cache.host_cache import HostBlobCache
from airflow_provider_ollama.cache.location import CacheLocation
from airflow_provider_ollama.cache.mirror import copy_from_registry
from airflow_provider_ollama.cache.objects import REPAIR_HINT, CacheObjects, sha256_hex
from airflow_provider_ollama.cache.policy import CachePolicy
from airflow_provider_ollama.cache.progress import TransferProgress
from airflow_provider_ollama.cache.rebuild import rebuild_on_server
from airflow_provider_ollama.cache.reports import RestoreReport, SaveReport
from airflow_provider_ollama.exceptions import OllamaCacheError, OllamaCacheIntegrityError
from airflow_provider_ollama.names import ModelName
from airflow_provider_ollama.store import (
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    InvalidManifestError,
    Manifest,
    ModelStore,
    file_digest,
)

if TYPE_CHECKING:
    from airflow_provider_ollama.hooks.ollama import OllamaHook

log = logging.getLogger(__name__)
_Report = TypeVar("_Report", RestoreReport, SaveReport)


class S3ModelCache:
    """A model cache at ``s3://bucket/prefix``, reached through an Airflow aws connection.

    :param location: ``s3://bucket/prefix`` (or a parsed :class:`CacheLocation`).
    :param aws_conn_id: the Airflow connection S3Hook uses (credentials, region, ``endpoint_url``).
    :param policy: ``read-write`` (default), ``read-only``, ``refresh`` or ``off``.
    :param transfer_config_args: s3transfer ``TransferConfig`` settings over the cache's defaults
        (64 MiB parts, 8 in parallel); the connection's ``service_config.s3.transfer_config_args``
        wins over both.

    Nothing talks to S3 (or imports the Amazon provider) until the first save, restore or lookup.
    """

    def __init__(
        self,
        location: CacheLocation | str,
        *,
        aws_conn_id: str | None = "aws_default",
        policy: CachePolicy | str = CachePolicy.READ_WRITE,
        transfer_config_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.location = location if isinstance(location, CacheLocation) else CacheLocation.parse(location)
        self.aws_conn_id = aws_conn_id
        self.policy = CachePolicy.parse(policy)
        #: The cache's blobs and manifests in S3, shared with the mirror and the rebuild.
        self.objects = CacheObjects(
            self.location,
            CacheBucket(
                self.location.bucket, aws_conn_id=aws_conn_id, transfer_config_args=transfer_config_args
            ),
        )

    def __repr__(self) -> str:
        return (
            f"S3ModelCache({self.location.url!r}, aws_conn_id={self.aws_conn_id!r}, "
            f"policy={self.policy.value!r})"
        )

    # --- reading -----------------------------------------------------------------------------------

    def lookup(self, name: ModelName | str) -> Manifest | None:
        """The cached manifest of ``name``, or None on a miss (or a policy that does not read).

        Only the manifest is fetched: a cheap hit test. Raises :class:`OllamaCacheIntegrityError` if
        the cached manifest is not a valid one.
        """
        model = _as_model_name(name)
        if not self.policy.reads:
            return None
        return self._read_manifest(model)

    def _read_manifest(self, model: ModelName) -> Manifest | None:
        key = self.location.manifest_key(model)
        raw = self.objects.bucket.get_bytes(key)
        if raw is None:
            return None
        try:
            return Manifest.parse(raw)
        except InvalidManifestError as error:
            raise OllamaCacheIntegrityError(
                f"cached manifest s3://{self.location.bucket}/{key} of {model.display_shortest()} is "
                f"unreadable ({error}); {REPAIR_HINT}"
            ) from error

    def restore(
        self,
        store: ModelStore,
        name: ModelName | str,
        *,
        host_cache: HostBlobCache | None = None,
        raise_errors: bool = True,
    ) -> RestoreReport:
        """Make ``name`` complete in ``store`` from the cache; return what happened.

        Blobs the store already has with the right size are kept; the others come from ``host_cache``
        when given (hard links, no download) or from S3, each streamed to a temp file beside its target,
        hashed on the way, checked against the manifest's sha256 and size, and renamed into place.
        The manifest is written last. A corrupt, truncated or missing cached blob is never installed:
        :class:`OllamaCacheIntegrityError` is raised (pull from the registry, then :meth:`save` repairs
        the entry). With ``raise_errors=False`` cache errors come back as a ``failed`` report instead.
        """
        model = _as_model_name(name)
        report = RestoreReport(model=model.display_shortest(), location=self.location.url)
        if not self.policy.reads:
            return _skipped(report, self.policy)
        with _reported(report, fatal=raise_errors):
            self._restore(store, model, host_cache, report)
        return report

    def restore_to_server(
        self,
        hook: OllamaHook,
        name: ModelName | str,
        *,
        after_mirror: bool = False,
        raise_errors: bool = True,
    ) -> RestoreReport:
        """Make ``name`` available on a server reachable only over HTTP (a shared one); return what happened.

        Blobs the server lacks go from S3 to ``POST /api/blobs`` as a stream (checked on the way, and
        by the server), then ``/api/create`` rebuilds the model from the cached layers. The rebuilt
        model has a new config blob and manifest, so its digest differs from the registry's (see
        ``rebuild.py``). Errors as for :meth:`restore`.

        :param after_mirror: the entry was just copied from the registry by :meth:`mirror`: restore it
            even under a policy that does not read (``refresh``), since it is not an old entry.
        """
        model = _as_model_name(name)
        report = RestoreReport(model=model.display_shortest(), location=self.location.url)
        if not self.policy.reads and not after_mirror:
            return _skipped(report, self.policy)
        with _reported(report, fatal=raise_errors):
            manifest = self._read_manifest(model)
            if manifest is None:
                report.status = "miss"
            else:
                report.manifest_digest = manifest.digest
                rebuild_on_server(self.objects, hook, model, manifest, report)
                report.status = "hit"
        return report

    def _restore(
        self, store: ModelStore, model: ModelName, host_cache: HostBlobCache | None, report: RestoreReport
    ) -> None:
        manifest = self.lookup(model)
        if manifest is None:
            report.status = "miss"
            return
        report.manifest_digest = manifest.digest
        blobs = _distinct_blobs(manifest)
        missing = [blob for blob in blobs if store.blob_size(blob.digest) != blob.size]
        report.blobs_already_local = len(blobs) - len(missing)
        # Check every blob the restore will download before downloading any: an incomplete or
        # truncated entry fails in milliseconds instead of after gigabytes.
        self.objects.check_cached_blobs(
            [blob for blob in missing if host_cache is None or not host_cache.has(blob)]
        )
        try:
            for blob in missing:
                target = store.blob_path(blob.digest)
                if host_cache is None:
                    self._download_blob(blob, target)
                    fetched = True
                else:
                    fetched = host_cache.install(blob, target, partial(self._download_blob, blob)).fetched
                if fetched:
                    report.blobs_downloaded += 1
                    report.bytes_downloaded += blob.size
                else:
                    report.blobs_from_host_cache += 1
                    report.bytes_from_host_cache += blob.size
            store.write_manifest(model, manifest.raw)
        except OSError as error:
            raise OllamaCacheError(
                f"could not write {model.display_shortest()} into the store {store.root}: {error}"
            ) from error
        report.status = "hit"

    def _download_blob(self, blob: Descriptor, target: Path) -> None:
        """Download ``blob`` to ``target`` through a hashed temp file beside it; install only if valid."""
        key = self.location.blob_key(blob.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            progress = TransferProgress(log, "restoring", f"{blob.kind} blob {target.name}", blob.size)
            digest, size = self.objects.bucket.download_hashed(key, fd, size=blob.size, progress=progress)
            on_disk = os.fstat(fd).st_size
            if digest != blob.digest or size != blob.size or on_disk != blob.size:
                self.objects.mark_corrupt(blob.digest)
                raise OllamaCacheIntegrityError(
                    f"cached {blob.kind} blob s3://{self.location.bucket}/{key} is corrupt: it has "
                    f"{on_disk} bytes with {digest}, the manifest says {blob.size} bytes with "
                    f"{blob.digest}; it was not installed; {REPAIR_HINT}"
                )
            os.fchmod(fd, 0o644)
            os.close(fd)
            fd = -1
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        finally:
            if fd >= 0:
                os.close(fd)

    # --- writing -----------------------------------------------------------------------------------

    def save(
        self, store: ModelStore, name: ModelName | str, *, raise_errors: bool | None = None
    ) -> SaveReport:
        """Save ``name`` from ``store`` to the cache; return what happened.

        Every blob the manifest references, the config blob included, is uploaded unless S3 already
        has it with the right size and sha256 metadata; each is verified against its digest first, so
        a corrupt local blob never reaches the cache. The manifest's exact bytes go last, making the
        entry visible only once it is complete. Blobs this cache found corrupt are overwritten.

        :param raise_errors: raise cache errors (True) or return a ``failed`` report after a warning
            (False). By default the policy decides: only ``refresh`` raises, so with ``read-write``
            a task whose work succeeded is not failed by a cache it could not write.
        """
        return self._write(name, raise_errors, lambda model, report: self._save(store, model, report))

    def mirror(
        self, name: ModelName | str, *, insecure: bool = False, raise_errors: bool | None = None
    ) -> SaveReport:
        """Copy ``name`` from its registry into the cache without any Ollama server; return what happened.

        For servers whose store this task cannot read (shared ones): the manifest and each blob the
        cache lacks are read from the registry as ``ollama pull`` reads them, streamed into S3 with
        their size and sha256 checked on the way (a bad blob aborts its upload), manifest last.
        ``bytes_uploaded`` is what came from the registry. Errors as for :meth:`save`; registry
        failures raise :class:`~airflow_provider_ollama.cache.registry.RegistryReadError`.
        """

        def copy(model: ModelName, report: SaveReport) -> None:
            report.manifest_digest = copy_from_registry(self.objects, model, report, insecure=insecure).digest

        return self._write(name, raise_errors, copy)

    def _write(
        self,
        name: ModelName | str,
        raise_errors: bool | None,
        write: Callable[[ModelName, SaveReport], None],
    ) -> SaveReport:
        """Run ``write`` unless the policy does not write, with its errors raised or reported as it says."""
        model = _as_model_name(name)
        report = SaveReport(model=model.display_shortest(), location=self.location.url)
        if not self.policy.writes:
            return _skipped(report, self.policy)
        fatal = self.policy.save_errors_are_fatal if raise_errors is None else raise_errors
        with _reported(report, fatal=fatal):
            write(model, report)
        return report

    def _save(self, store: ModelStore, model: ModelName, report: SaveReport) -> None:
        manifest = self._read_local_manifest(store, model)
        blobs = _distinct_blobs(manifest)
        # Refuse an incomplete local model before uploading anything (a blob still being pulled is only
        # a "-partial" file, which is never uploaded).
        absent = [blob.digest for blob in blobs if store.blob_size(blob.digest) is None]
        if absent:
            raise OllamaCacheError(
                f"cannot save {model.display_shortest()}: the store {store.root} lacks blob(s) "
                f"{', '.join(absent)}; pull the model completely first"
            )
        for blob in blobs:
            key = self.location.blob_key(blob.digest)
            cached, usable = self.objects.cached_blob(blob)
            if usable:
                report.blobs_already_cached += 1
                continue
            path = store.blob_path(blob.digest)
            self._verify_local_blob(path, blob, model)
            progress = TransferProgress(log, "saving", f"{blob.kind} blob {path.name}", blob.size)
            self.objects.bucket.upload_file(path, key, sha256=sha256_hex(blob.digest), progress=progress)
            self.objects.mark_repaired(blob.digest)
            report.blobs_uploaded += 1
            report.bytes_uploaded += blob.size
            if cached is not None:
                report.blobs_repaired += 1
        self.objects.bucket.put_bytes(
            self.location.manifest_key(model),
            manifest.raw,
            sha256=sha256_hex(manifest.digest),
            content_type=MANIFEST_MEDIA_TYPE,
        )
        report.manifest_digest = manifest.digest

    def _read_local_manifest(self, store: ModelStore, model: ModelName) -> Manifest:
        try:
            manifest = store.read_manifest(model)
        except InvalidManifestError as error:
            raise OllamaCacheError(
                f"cannot save {model.display_shortest()}: its manifest in {store.root} is invalid ({error})"
            ) from error
        except OSError as error:
            raise OllamaCacheError(
                f"cannot read {model.display_shortest()} from {store.root}: {error}"
            ) from error
        if manifest is None:
            raise OllamaCacheError(
                f"cannot save {model.display_shortest()}: it is not in the store {store.root}; pull it first"
            )
        return manifest

    @staticmethod
    def _verify_local_blob(path: Path, blob: Descriptor, model: ModelName) -> None:
        try:
            digest, size = file_digest(path)
        except OSError as error:
            raise OllamaCacheError(f"cannot read {path} of {model.display_shortest()}: {error}") from error
        if digest != blob.digest or size != blob.size:
            raise OllamaCacheIntegrityError(
                f"local {blob.kind} blob {path} of {model.display_shortest()} is corrupt ({size} bytes "
                f"with {digest}, the manifest says {blob.size} bytes with {blob.digest}); not uploaded. "
                "Delete the model and pull it again"
            )


def _skipped(report: _Report, policy: CachePolicy) -> _Report:
    report.status = "skipped"
    log.info("%s (policy %s)", report.summary(), policy.value)
    return report


@contextlib.contextmanager
def _reported(report: RestoreReport | SaveReport, *, fatal: bool) -> Iterator[None]:
    """Time the block into ``report`` and log its summary; a cache error marks it ``failed`` and is
    re-raised when ``fatal``, else swallowed after a warning."""
    started = time.monotonic()
    try:
        yield
    except OllamaCacheError as error:
        report.status = "failed"
        report.error = str(error)
        report.seconds = round(time.monotonic() - started, 3)
        log.warning(report.summary())
        if fatal:
            raise
        return
    report.seconds = round(time.monotonic() - started, 3)
    log.info(report.summary())


def _as_model_name(name: ModelName | str) -> ModelName:
    return name if isinstance(name, ModelName) else ModelName.parse(name)


def _distinct_blobs(manifest: Manifest) -> list[Descriptor]:
    """The manifest's blobs (layers and config), each digest once."""
    return list({blob.digest: blob for blob in manifest.blobs}.values())
