"""How a task may use the model cache: read it, write it, both, or neither.

Users type policies into operator arguments and DAG params, so :meth:`CachePolicy.parse` accepts the
usual spellings (``"read-write"``, ``"read_only"``, ``"RO"``, ``"off"``...) and rejects anything else.
"""

from __future__ import annotations

import enum

from airflow_provider_ollama.exceptions import OllamaCacheError


class CachePolicy(str, enum.Enum):
    """Which directions of the cache a task uses."""

    #: Restore from the cache, save what was pulled (the default).
    READ_WRITE = "read-write"
    #: Restore from the cache, never write it (e.g. a cache filled by a release pipeline).
    READ_ONLY = "read-only"
    #: Never restore (always pull), then save: refreshes or seeds the cache.
    WRITE_ONLY = "write-only"
    #: Do not touch S3 at all.
    OFF = "off"

    @classmethod
    def parse(cls, value: CachePolicy | str) -> CachePolicy:
        """A policy from its value or a common spelling; raise :class:`OllamaCacheError` otherwise."""
        if isinstance(value, CachePolicy):
            return value
        folded = str(value).strip().lower().replace("_", "-").replace(" ", "-")
        policy = _SPELLINGS.get(folded)
        if policy is None:
            choices = ", ".join(repr(policy.value) for policy in cls)
            raise OllamaCacheError(f"unknown model cache policy {value!r}: use one of {choices}")
        return policy

    @property
    def reads(self) -> bool:
        """Whether models may be restored from the cache."""
        return self in (CachePolicy.READ_WRITE, CachePolicy.READ_ONLY)

    @property
    def writes(self) -> bool:
        """Whether models may be saved to the cache."""
        return self in (CachePolicy.READ_WRITE, CachePolicy.WRITE_ONLY)

    @property
    def save_errors_are_fatal(self) -> bool:
        """Whether a failed save should fail the task.

        Only with ``write-only``, whose whole point is to fill the cache; with ``read-write`` the
        task's real work succeeded and a cache it could not write is worth a warning, not a failure.
        """
        return self is CachePolicy.WRITE_ONLY

    def __str__(self) -> str:
        return self.value


_SPELLINGS: dict[str, CachePolicy] = {
    **dict.fromkeys(("read-write", "readwrite", "rw", "on", "true"), CachePolicy.READ_WRITE),
    **dict.fromkeys(("read-only", "readonly", "ro", "read"), CachePolicy.READ_ONLY),
    **dict.fromkeys(("write-only", "writeonly", "wo", "write"), CachePolicy.WRITE_ONLY),
    **dict.fromkeys(("off", "none", "disabled", "false", "no"), CachePolicy.OFF),
}
