"""Fixtures that start a real inferwatch service on loopback, port 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.core.config import Config
from tests.integration.service_harness import RunningService, loopback_config


@pytest.fixture
def start_service() -> Iterator[Callable[[Config], RunningService]]:
    """Start services from Configs; every one started is stopped at teardown."""
    started: list[RunningService] = []

    def start(config: Config) -> RunningService:
        running = RunningService(config)
        started.append(running)
        return running.start()

    yield start
    for running in reversed(started):
        running.stop()


@pytest.fixture
def running_service(db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]) -> RunningService:
    """A service on a fresh database of each backend (it migrates on start).

    ``db_url`` comes first so it is torn down last, after the service has stopped writing to it.
    """
    return start_service(loopback_config(db_url, tmp_path / "spool"))
