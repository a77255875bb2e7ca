"""A verified blob cache shared by every task on one worker host.

A blob restored from S3 once is kept here and hard-linked into each later task's store (a symlink
across filesystems, a copy as a last resort), so a second task on the host downloads nothing. Tasks
running at once coordinate with one ``fcntl`` lock per digest: one downloads, the others wait, then link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from airflow_provider_ollama.exceptions import OllamaCacheError
from airflow_provider_ollama.store import Descriptor, ModelStore, blob_filename

log = logging.getLogger(__name__)

#: /var/tmp survives reboots and is meant for data shared between runs on one host. Blobs found
#: here are trusted by size, so the directory must belong to the worker's user (checked on use).
DEFAULT_HOST_CACHE_DIR = Path("/var/tmp/ollama-blob-cache")  # noqa: S108

LinkKind = Literal["hardlink", "symlink", "copy"]


@dataclass(frozen=True)
class HostInstall:
    """How one blob reached a task's store through the host cache."""

    #: Whether this call had to fetch the blob into the host cache (otherwise it was there already).
    fetched: bool
    link: LinkKind


class HostBlobCache:
    """Verified blobs under ``<root>/blobs``, lock files under ``<root>/locks``.

    Only verified files enter ``blobs/`` (the fetch callback must verify and rename atomically), so a
    blob of the right size found there is trusted, as Ollama trusts blobs in its own store.
    """

    def __init__(self, root: Path | str = DEFAULT_HOST_CACHE_DIR) -> None:
        self.root = Path(root)
        # The blobs directory has a store's layout, so the store's path and size helpers apply.
        self._blobs = ModelStore(self.root)

    def __repr__(self) -> str:
        return f"HostBlobCache({str(self.root)!r})"

    @property
    def blobs_dir(self) -> Path:
        return self._blobs.blobs_dir

    def blob_path(self, digest: str) -> Path:
        return self._blobs.blob_path(digest)

    def has(self, blob: Descriptor) -> bool:
        """Whether the host cache holds ``blob`` with its manifest size."""
        return self._blobs.blob_size(blob.digest) == blob.size

    def install(self, blob: Descriptor, target: Path, fetch: Callable[[Path], None]) -> HostInstall:
        """Put ``blob`` at ``target`` from the host cache, fetching it into the cache first if needed.

        ``fetch(path)`` must leave a verified blob at ``path`` atomically (temp file + rename) or raise.
        """
        fetched = self.ensure(blob, fetch)
        return HostInstall(fetched=fetched, link=self.link_into(blob, target))

    def ensure(self, blob: Descriptor, fetch: Callable[[Path], None]) -> bool:
        """Make ``blob`` present in the host cache; return whether this call fetched it."""
        self._check_ownership()
        if self.has(blob):
            return False
        with self._locked(blob.digest):
            # Another task may have fetched it while this one waited for the lock.
            if self.has(blob):
                return False
            self.blobs_dir.mkdir(parents=True, exist_ok=True)
            fetch(self.blob_path(blob.digest))
        if not self.has(blob):
            raise OSError(f"fetching {blob.digest} into {self.root} left no file of {blob.size} bytes")
        return True

    def link_into(self, blob: Descriptor, target: Path) -> LinkKind:
        """Replace ``target`` atomically with a link to the cached blob; return the kind of link."""
        source = self.blob_path(blob.digest).absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            kind = _link_or_copy(source, temp)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        if kind != "hardlink":
            log.info("host blob cache %s: %s %s into %s", self.root, kind, target.name, target.parent)
        return kind

    def _check_ownership(self) -> None:
        """Create the root for this user only; refuse one that another user could have filled."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            status = self.root.stat()
        except OSError as error:
            raise OllamaCacheError(f"cannot use the host blob cache {self.root}: {error}") from error
        if status.st_uid != os.geteuid() or status.st_mode & 0o022:
            raise OllamaCacheError(
                f"refusing the host blob cache {self.root}: it must be owned by this user (uid "
                f"{os.geteuid()}) and writable by nobody else, because its blobs are trusted without "
                "re-hashing; fix its owner and mode or choose another directory"
            )

    @contextlib.contextmanager
    def _locked(self, digest: str) -> Iterator[None]:
        # Lock files are never deleted: removing one while another process waits on it would let two
        # processes hold "the" lock at once.
        locks_dir = self.root / "locks"
        locks_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks_dir / f"{blob_filename(digest)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock, also if the process dies


def _link_or_copy(source: Path, temp: Path) -> LinkKind:
    try:
        os.link(source, temp)
        return "hardlink"
    except OSError as error:
        # EXDEV: another filesystem; EPERM/EMLINK/ENOTSUP: filesystems without (more) hard links.
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
    try:
        os.symlink(source, temp)
        return "symlink"
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
            raise
    shutil.copyfile(source, temp)
    os.chmod(temp, 0o644)
    return "copy"
