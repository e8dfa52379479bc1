"""The start-up warning for listeners that anyone beyond this machine may call without a token."""

from __future__ import annotations

import pytest

from collector.core.config import AuthConfig, Config, ServerConfig
from collector.service.exposure import exposure_warning, is_loopback, open_beyond_loopback


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:8080", True),
        ("127.0.0.2:8080", True),
        ("localhost:8080", True),
        ("[::1]:4317", True),
        ("0.0.0.0:8080", False),
        (":8080", False),
        ("[::]:4317", False),
        ("10.0.0.5:8080", False),
        ("inferwatch.internal:8080", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_listeners_open_beyond_loopback_without_tokens_are_named() -> None:
    config = Config(server=ServerConfig(http_addr="0.0.0.0:8080", grpc_addr="[::]:4317"))
    assert open_beyond_loopback(config) == ["gRPC on [::]:4317", "HTTP (pages and JSON API) on 0.0.0.0:8080"]
    warning = exposure_warning(config)
    assert warning is not None
    assert "[auth] ingest_tokens and admin_tokens" in warning


def test_no_warning_on_loopback_or_with_tokens() -> None:
    assert exposure_warning(Config()) is None
    exposed_with_tokens = Config(
        server=ServerConfig(http_addr="0.0.0.0:8080"), auth=AuthConfig(admin_tokens=("secret",))
    )
    assert exposure_warning(exposed_with_tokens) is None
