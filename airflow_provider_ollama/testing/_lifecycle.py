"""The ``with`` protocol of the testing handles that start a server and must always shut it down.

The emulators, the registry emulator and the background server they run on are all used as
``with Handle() as handle:``; this base gives them that protocol once: entering starts the handle,
leaving closes it whatever the block raised, so no test leaves a server or its files behind.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self


class StartStopContext(abc.ABC):
    """A handle that :meth:`start` brings up and :meth:`close` shuts down; a context manager."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Bring the handle up (a no-op when it already is) and return it."""

    @abc.abstractmethod
    def stop(self) -> object:
        """Shut the server down."""

    def close(self) -> None:
        """Shut down for good; a handle with more to clean up than :meth:`stop` does extends this."""
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
