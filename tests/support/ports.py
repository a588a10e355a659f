"""Free TCP ports on 127.0.0.1 for the servers tests start.

A port the kernel hands out for `bind(("127.0.0.1", 0))` comes from the ephemeral range, the same range
every outgoing connection takes its local port from: between the moment a test reads a free port and
the moment its server binds it (seconds, when PostgreSQL starts first), any connection on the machine
may take it. Ports below that range are never handed out implicitly: `free_ports` chooses consecutive
ports there for a topology that binds them seconds later.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports nothing listens on now, below the ephemeral range."""
    top = max(_ephemeral_start(), _LOWEST + 1_000) - count
    chooser = random.SystemRandom()
    for _ in range(1_000):
        first = chooser.randrange(_LOWEST, top)
        if all(_is_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports between {_LOWEST} and {top}")


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1, as the kernel hands one out: for a server started
    at once (a random choice of many tests at a time collides more often than the kernel's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
