"""How a feature plugs a gRPC service into the shell: the contract features implement, the shell mounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer to mount: its full name (for health and reflection) and how to add it to a server."""

    name: str
    add_to_server: Callable[[grpc.aio.Server], None]
