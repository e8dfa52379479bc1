"""Which listeners are reachable beyond this machine without a token: said at start, since it is easy to miss.

Without ``[auth]`` tokens every call is accepted, which is the right default on loopback (a laptop, a
sidecar) and a hole anywhere else: the pages and JSON API show every model, and admin calls acknowledge,
silence and start shadow runs.
"""

from __future__ import annotations

import ipaddress

from collector.core.config import Config

_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` (``[::1]:PORT`` for IPv6) listens on loopback only; an empty host or 0.0.0.0
    listens everywhere, and a name other than localhost may resolve anywhere."""
    host = address.rpartition(":")[0].strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_beyond_loopback(config: Config) -> list[str]:
    """``"HTTP (pages and JSON API) on 0.0.0.0:8080"``-style names of the listeners anyone who can reach this
    machine may call without a token; empty when tokens are set or everything listens on loopback."""
    if config.auth.enabled:
        return []
    server = config.server
    listeners = (
        ("gRPC", server.grpc_addr),
        ("HTTP (pages and JSON API)", server.http_addr),
        ("OTLP/HTTP", server.otlp_http_addr),
    )
    return [f"{name} on {address}" for name, address in listeners if not is_loopback(address)]


def exposure_warning(config: Config) -> str | None:
    """The start-up warning for listeners open beyond loopback without tokens, or None."""
    exposed = open_beyond_loopback(config)
    if not exposed:
        return None
    return (
        f"no [auth] tokens are set, and {', '.join(exposed)} listen beyond loopback: anyone who can reach them "
        "can read every model's pages and JSON API, send data, and make admin calls (acknowledge, silence, "
        "shadow runs). Set [auth] ingest_tokens and admin_tokens, or bind to 127.0.0.1"
    )
