"""How a task may use the model cache: read and write it, only read it, refresh it, or leave it alone.

One spelling per policy (``"read-write"``, ``"read-only"``, ``"refresh"``, ``"off"``) or the enum member;
anything else is refused with the four choices, so a typo never silently means another policy.
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
    #: Pull from the registry even when the cache or the server has the model, and overwrite the
    #: cache entry: picks up a new version of a tag, or fills a cache on purpose.
    REFRESH = "refresh"
    #: Do not touch S3 at all.
    OFF = "off"

    @classmethod
    def parse(cls, value: CachePolicy | str) -> CachePolicy:
        """The policy ``value`` names (its value or the member); raise :class:`OllamaCacheError` otherwise."""
        if isinstance(value, CachePolicy):
            return value
        for policy in cls:
            if value == policy.value:
                return policy
        choices = ", ".join(repr(policy.value) for policy in cls)
        raise OllamaCacheError(f"unknown model cache policy {value!r}: use one of {choices}")

    @property
    def reads(self) -> bool:
        """Whether models may be restored from the cache."""
        return self in (CachePolicy.READ_WRITE, CachePolicy.READ_ONLY)

    @property
    def writes(self) -> bool:
        """Whether models may be saved to the cache."""
        return self in (CachePolicy.READ_WRITE, CachePolicy.REFRESH)

    @property
    def save_errors_are_fatal(self) -> bool:
        """Whether a failed save should fail the task.

        Only with ``refresh``, whose whole point is to write the cache; with ``read-write`` the task's
        real work succeeded and a cache it could not write is worth a warning, not a failure.
        """
        return self is CachePolicy.REFRESH

    def __str__(self) -> str:
        return self.value
