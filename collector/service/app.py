"""The composition root: builds every long-running part from the Config and runs them in one exit stack.

Parts are entered in dependency order and left in reverse, so on shutdown the gRPC server stops taking
calls and drains before anything it feeds is flushed and closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine

from alerts import service as alert_service
from alerts.config import AlertsConfig
from alerts.dispatcher import AlertDispatcher
from collector.core.config import Config
from collector.core.feature_schema import NumericFeatures
from collector.core.findings import finding_to_json, get_finding
from collector.core.locks import exclusive_lock
from collector.core.metrics import ServiceMetrics
from collector.core.periodic import PeriodicPass
from collector.core.settings import redacted_url
from collector.core.storage.engine import create_engine_for, sqlite_file
from collector.core.storage.migrate import upgrade
from collector.ingest.cardinality import CardinalityLimiter, CardinalityLimits
from collector.ingest.otlp_traces import SpanDecodeOptions
from collector.ingest.outcome_ids import PredictionIdCheck
from collector.ingest.pacing import IngestPacer, PacingOptions
from collector.ingest.servicers import IngestOptions, IngestPipeline, IngestServicers
from collector.ingest.spool import Spool
from collector.ingest.writer_supervisor import BatchWriter
from collector.service import finding_service
from collector.service.auth import AuthInterceptor
from collector.service.exposure import exposure_warning
from collector.service.features import count_routes, parse_features, rightsize_context
from collector.service.grpc_server import GrpcServer
from collector.service.http_server import HttpServer
from collector.service.model_metrics import ModelMetricsCollector, ModelMetricsRefresher
from collector.service.model_snapshot import SnapshotOptions
from collector.service.otlp_http import OtlpHttpReceiver
from collector.service.readiness import Readiness, check_readiness
from collector.service.web.context import WebContext
from collector.service.web.sessions import SessionKeys
from detectors.drift import reference_service
from detectors.drift.store import numeric_features as stored_numeric_features
from detectors.latency import LatencyOptions
from detectors.retention import RetentionOptions
from detectors.scheduler import DetectorScheduler, SchedulerOptions
from detectors.slo import SLO
from rightsize import service as rightsize_service
from shadow import service as shadow_service
from shadow.execution import RunCoordinator

logger = logging.getLogger(__name__)
# How soon a drift reference set by another process starts the ingest warnings about text in numeric features.
FEATURE_SCHEMA_REFRESH_S = 30.0


def _log_what_it_watches(config: Config, alerting: AlertsConfig, slos: tuple[SLO, ...]) -> None:
    """One line each, at start: the configuration file, where alerts go, and the SLOs, so an operator can tell
    from the log which settings this process runs with."""
    logger.info("configuration: %s", config.config_file or "no file (defaults and INFERWATCH_* environment)")
    receivers = ", ".join(f"{name} ({receiver.type})" for name, receiver in sorted(alerting.receivers.items()))
    routes = count_routes(alerting.route) if alerting.route is not None else 0
    logger.info("alert receivers: %s; %d route(s)", receivers or "none (alerts are kept, not sent)", routes)
    described = ", ".join(
        f"{slo.model_name} {slo.kind} {slo.target:g}"
        + (f" under {slo.latency_threshold_ms:g} ms" if slo.latency_threshold_ms is not None else "")
        for slo in slos
    )
    logger.info("SLOs: %s", described or "none")
    warning = exposure_warning(config)
    if warning is not None:
        logger.warning(warning)


class Service:
    """Every daemon of one inferwatch process, as one async context manager."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = ServiceMetrics()
        self._stack = AsyncExitStack()
        self.engine: Engine | None = None
        self.spool: Spool | None = None
        self.writer: BatchWriter | None = None
        self.grpc: GrpcServer | None = None
        self.http: HttpServer | None = None
        self.otlp_http: OtlpHttpReceiver | None = None
        self.ingest: IngestPipeline | None = None
        self.feature_schema: PeriodicPass | None = None
        self.detectors: DetectorScheduler | None = None
        self.alerts: AlertDispatcher | None = None
        self.model_metrics: ModelMetricsRefresher | None = None
        self.shadow_runs: RunCoordinator | None = None
        self.shadow_pass: PeriodicPass | None = None

    async def __aenter__(self) -> Service:
        config = self.config
        # Feature configuration is checked before anything starts, like every other setting.
        features = parse_features(config)
        slos, drift, alerting, sinks = features.slos, features.drift, features.alerting, features.sinks
        pricing, cost_anomalies, shadow_settings = features.pricing, features.cost_anomalies, features.shadow
        try:
            self._lock_sqlite_file(config.storage.db_url)
            if config.storage.migrate_on_start:
                # The same code path as `inferwatch db upgrade`; blocking, so off the event loop.
                await asyncio.to_thread(upgrade, config.storage.db_url)
            engine = create_engine_for(config.storage.db_url)
            self._stack.callback(engine.dispose)
            self.engine = engine
            ingest = config.collector
            spool = Spool(Path(ingest.spool_dir), max_bytes=ingest.spool_max_bytes, fsync=ingest.spool_fsync).open()
            self._stack.callback(spool.close)
            self.spool = spool
            # Entered before the gRPC server so it is left after it: calls drain first, then the writer flushes.
            self.writer = await self._stack.enter_async_context(
                BatchWriter(
                    spool,
                    config.storage.db_url,
                    self.metrics,
                    drain_timeout_s=ingest.drain_timeout_s,
                    log_level=config.log_level,
                )
            )
            limits = CardinalityLimits(
                max_models=ingest.max_models,
                max_versions_per_model=ingest.max_versions_per_model,
                max_operations_per_model=ingest.max_operations_per_model,
                max_hardware_classes=ingest.max_hardware_classes,
            )
            limiter = CardinalityLimiter(limits, on_overflow=self.metrics.observe_overflow)
            await asyncio.to_thread(limiter.seed_from, engine)
            # Ingest warns about text in features a drift reference holds as numeric, from memory: a background
            # pass rereads the references, so the accept path never queries for them.
            numeric_features = NumericFeatures()
            self.feature_schema = await self._stack.enter_async_context(
                PeriodicPass(
                    "inferwatch-feature-schema",
                    lambda: numeric_features.replace(stored_numeric_features(engine)),
                    FEATURE_SCHEMA_REFRESH_S,
                )
            )
            prediction_ids = None
            if ingest.check_outcome_ids:
                prediction_ids = PredictionIdCheck(engine, ingest.recent_prediction_ids)
                self._stack.callback(prediction_ids.close)
            self.ingest = IngestPipeline(
                spool,
                self.metrics,
                IngestOptions(
                    spans=SpanDecodeOptions(
                        hardware_class_attribute=ingest.hardware_class_attribute,
                        keep_non_inference_spans=ingest.keep_non_inference_spans,
                        keep_raw_spans=ingest.keep_raw_spans,
                        max_raw_span_bytes=ingest.max_raw_span_bytes,
                    ),
                    retry_after_s=ingest.retry_after_s,
                    pacer=IngestPacer(spool, PacingOptions(above_bytes=ingest.pace_above_bytes)),
                    limiter=limiter,
                    numeric_features=numeric_features,
                    prediction_ids=prediction_ids,
                ),
            )
            servicers = IngestServicers(self.ingest)
            rightsizing = rightsize_context(features)
            shadow_services, shadow_runs = shadow_service.registrations(engine, config.storage.db_url, shadow_settings)
            self.shadow_runs = shadow_runs
            # Registered before the gRPC server, so it runs after the server has drained its calls, and after the
            # pass below has stopped (else it could claim again what was just released).
            self._stack.callback(shadow_runs.release_all)
            # Heartbeats this replica's runs and claims queued ones and those of replicas that died.
            self.shadow_pass = await self._stack.enter_async_context(
                PeriodicPass(
                    "inferwatch-shadow-runs",
                    shadow_runs.pass_once,
                    shadow_runs.interval_s,
                    observer=self.metrics.observe_pass,
                )
            )
            self.grpc = await self._stack.enter_async_context(
                GrpcServer(
                    config.server.grpc_addr,
                    services=[
                        *servicers.registrations(),
                        finding_service.registration(engine),
                        reference_service.registration(engine),
                        alert_service.registration(engine, alerting.inhibit_rules),
                        *shadow_services,
                        rightsize_service.registration(engine, rightsizing),
                    ],
                    metrics=self.metrics,
                    max_message_bytes=config.server.max_message_bytes,
                    shutdown_grace_s=config.server.shutdown_grace_s,
                    interceptors=[AuthInterceptor(config.auth)] if config.auth.enabled else [],
                )
            )
            # Beside the gRPC server, and like it left before the writer flushes.
            self.otlp_http = await self._stack.enter_async_context(
                OtlpHttpReceiver(
                    config.server.otlp_http_addr,
                    pipeline=self.ingest,
                    max_body_bytes=config.server.max_message_bytes,
                    auth=config.auth,
                )
            )
            self.detectors = await self._stack.enter_async_context(
                DetectorScheduler(
                    engine,
                    SchedulerOptions(
                        interval_s=config.detectors.detector_interval_s,
                        latency=LatencyOptions(
                            min_requests=config.detectors.latency_min_requests,
                            max_pool_s=config.detectors.latency_max_pool_s,
                        ),
                        slos=slos,
                        drift=drift,
                        pricing=pricing,
                        cost=cost_anomalies,
                        retention=RetentionOptions.from_days(
                            config.storage.span_retention_days,
                            config.storage.rollup_retention_days,
                            config.storage.prediction_retention_days,
                            config.storage.finding_retention_days,
                        ),
                    ),
                    observer=self.metrics.observe_pass,
                    on_late_spans=self.metrics.spans_too_late.inc,
                )
            )
            # Per-model series for /metrics, read at the detector interval, after the detectors (rollups) start.
            model_collector = ModelMetricsCollector()
            self.metrics.registry.register(model_collector)
            self.model_metrics = await self._stack.enter_async_context(
                ModelMetricsRefresher(
                    engine,
                    SnapshotOptions(pricing, slos, limits, self.detectors.options.rollup.interval_s),
                    model_collector,
                    config.detectors.detector_interval_s,
                    observer=self.metrics.observe_pass,
                )
            )
            self.http = await self._stack.enter_async_context(
                HttpServer(
                    config.server.http_addr,
                    metrics=self.metrics,
                    readiness=self.readiness,
                    findings=self.finding_json,
                    auth=config.auth,
                    web=WebContext(
                        engine,
                        SessionKeys(config.auth),
                        pricing=pricing,
                        slos=slos,
                        inhibit_rules=tuple(alerting.inhibit_rules),
                        rightsize=rightsizing,
                    ),
                )
            )
            if not alerting.external_url:
                # Evidence links need an address people can open; without one, the bound HTTP address is the best guess.
                host = config.server.http_addr.rpartition(":")[0]
                if host in ("0.0.0.0", "::", "[::]", ""):
                    logger.warning(
                        "alerts.external_url is not set and HTTP listens on every address (%s): evidence links "
                        "in alerts will not open from elsewhere; set alerts.external_url",
                        config.server.http_addr,
                    )
                alerting = replace(alerting, external_url=f"http://{host}:{self.http.port}")
            # Entered last, so it is left first: no pass runs on a closed engine or after the HTTP side is gone.
            self.alerts = await self._stack.enter_async_context(
                AlertDispatcher(
                    engine,
                    alerting,
                    sinks,
                    observer=self.metrics,
                    verdict_interval_s=config.detectors.detector_interval_s,
                )
            )
            _log_what_it_watches(config, alerting, slos)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    def _lock_sqlite_file(self, db_url: str) -> None:
        """One `serve` per SQLite file: two would each run detectors and send every alert twice, and fight over
        the write lock. PostgreSQL replicas coordinate through the database and need no lock."""
        path = sqlite_file(db_url)
        if path is None:
            return
        lock = path.with_name(path.name + ".serve-lock")
        fd = exclusive_lock(
            lock,
            wait=False,
            busy_message=f"another `inferwatch serve` is already using the SQLite database {path}; stop it first, "
            "or run replicas on PostgreSQL",
        )
        self._stack.callback(os.close, fd)

    async def finding_json(self, finding_id: int) -> dict[str, Any] | None:
        """The HTTP API's view of one finding, read off the event loop."""
        assert self.engine is not None, "findings are only served while the service runs"
        found = await asyncio.to_thread(get_finding, self.engine, finding_id)
        return finding_to_json(found) if found is not None else None

    async def readiness(self) -> Readiness:
        """Check the database off the event loop so a stalled one cannot freeze every other request."""
        assert self.engine is not None, "readiness is only served while the service runs"
        writer_problem = self.writer.problem if self.writer is not None else None
        return await asyncio.to_thread(check_readiness, self.engine, writer_problem)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT (or until ``stop`` is set), then shut down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Service(config) as service:
            assert service.grpc is not None
            assert service.http is not None
            grpc_host = config.server.grpc_addr.rpartition(":")[0]
            http_host = config.server.http_addr.rpartition(":")[0]
            assert service.otlp_http is not None
            otlp_http_host = config.server.otlp_http_addr.rpartition(":")[0]
            logger.info(
                "inferwatch serving: gRPC on %s:%d, HTTP on %s:%d, OTLP/HTTP on %s:%d, database %s",
                grpc_host,
                service.grpc.port,
                http_host,
                service.http.port,
                otlp_http_host,
                service.otlp_http.port,
                redacted_url(config.storage.db_url),
            )
            await stop.wait()
            logger.info("shutting down: draining calls for up to %g s", config.server.shutdown_grace_s)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    logger.info("stopped")
