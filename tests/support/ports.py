"""Free loopback ports: nothing listens there (connections are refused), and no outgoing connection takes them.

A port picked with port 0 comes from the kernel's ephemeral range, the same range every outgoing
connection draws its local port from. Released and bound again later, it can meanwhile have become
the local end of some connection of the busy test machine (``bind: address already in use``). Ports
below that range are only ever taken by an explicit bind, so a server a test starts later (or again)
can bind the port it was given.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL_START = 32768
_LOWEST = 10000
_ATTEMPTS = 200


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_START


def unused_port() -> int:
    """A free 127.0.0.1 port below the ephemeral range (random, so parallel tests rarely pick the same)."""
    start = _ephemeral_start()
    candidates = random.sample(range(_LOWEST, start), k=min(_ATTEMPTS, start - _LOWEST))
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_LOWEST} and {start} after {len(candidates)} attempts")
