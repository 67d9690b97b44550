"""A free TCP port for anything a test starts that listens: servers, and torchrun's rendezvous (accelerate's default
29500 is shared by every launch, and ``make test`` runs test files side by side, the README's DDP command among
them)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
