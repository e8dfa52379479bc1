"""Runs a real inferwatch service on loopback, port 0, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url

from collector.core.config import CollectorConfig, Config, ServerConfig, StorageConfig
from collector.service.app import Service

START_TIMEOUT_S = 30.0


class RunningService:
    """Runs ``Service`` on its own event loop in a background thread, as `inferwatch serve` would."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.service: Service | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="inferwatch-service", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with Service(self.config) as service:
                self.service = service
                self._started.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as error:  # surfaced to the test thread by start()
            self._error = error
        finally:
            self._started.set()

    def start(self) -> RunningService:
        """Start and wait until both servers are bound; re-raise a start-up failure in the caller."""
        self._thread.start()
        self._started.wait(START_TIMEOUT_S)
        if self._error is not None:
            raise self._error
        assert self.service is not None, "service did not start in time"
        return self

    def stop(self) -> None:
        """Shut down gracefully, as on SIGTERM, and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT_S)

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC server."""
        assert self.service is not None
        assert self.service.grpc is not None
        return f"127.0.0.1:{self.service.grpc.port}"

    @property
    def http_base(self) -> str:
        """``http://127.0.0.1:PORT`` of the HTTP server."""
        assert self.service is not None
        assert self.service.http is not None
        return f"http://127.0.0.1:{self.service.http.port}"

    @property
    def otlp_http_base(self) -> str:
        """``http://127.0.0.1:PORT`` of the OTLP/HTTP receiver."""
        assert self.service is not None
        assert self.service.otlp_http is not None
        return f"http://127.0.0.1:{self.service.otlp_http.port}"


def loopback_config(db_url: str, spool_dir: Path, *, collector: CollectorConfig | None = None, **server: Any) -> Config:
    """A Config on loopback port 0, the given database, and its own spool directory."""
    return Config(
        server=replace(
            ServerConfig(
                grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0", otlp_http_addr="127.0.0.1:0", shutdown_grace_s=2.0
            ),
            **server,
        ),
        storage=StorageConfig(db_url=db_url),
        collector=replace(collector or CollectorConfig(), spool_dir=str(spool_dir)),
    )


@contextlib.contextmanager
def postgres_refusing_connections(db_url: str) -> Iterator[None]:
    """While inside: the PostgreSQL database of ``db_url`` refuses new connections and its open ones are
    ended, as in an outage; it takes connections again on the way out, whatever happened inside."""
    name = make_url(db_url).database
    admin = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
