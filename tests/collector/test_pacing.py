"""Pacing: answers wait while the writer drains a backlog, never while it is not draining."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from prometheus_client import CollectorRegistry

from collector.core.metrics import ServiceMetrics
from collector.ingest.pacing import RATE_WINDOW_S, IngestPacer, PacingOptions
from collector.ingest.servicers import IngestOptions, IngestPipeline
from collector.ingest.spool import Spool, SpoolReader

KIB = 1024


class ManualClock:
    """Time that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drain_one(spool: Spool, reader: SpoolReader) -> None:
    (record,) = reader.read(1)
    reader.commit(record.end)
    spool.note_committed(record.end)


def drain_while_answering(
    spool: Spool, reader: SpoolReader, pacer: IngestPacer, clock: ManualClock, ticks: int
) -> list[float]:
    """Every 0.1 s the writer commits one record and an answer asks the pacer; the delays it gave."""
    delays = []
    for _ in range(ticks):
        clock.now += 0.1
        drain_one(spool, reader)
        delays.append(pacer.delay_s())
    return delays


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, max_bytes=1 << 30, segment_bytes=64 * KIB).open()


def test_drained_bytes_count_what_the_writer_committed_across_segments(spool: Spool, tmp_path: Path) -> None:
    reader = SpoolReader(tmp_path).open()
    for _ in range(10):
        spool.append(b"x" * 20 * KIB)  # 64 KiB segments: several rotations
    pending = spool.pending_bytes
    while spool.pending_bytes:
        drain_one(spool, reader)
    assert spool.drained_bytes == pending
    reader.close()


def test_no_wait_below_the_threshold(spool: Spool) -> None:
    clock = ManualClock()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=100 * KIB), clock)
    spool.append(b"x" * 50 * KIB)
    for _ in range(20):
        clock.now += 0.1
        assert pacer.delay_s() == 0


def test_the_wait_is_the_excess_over_the_drain_rate(spool: Spool, tmp_path: Path) -> None:
    """A writer draining 100 KiB/s behind a backlog 50 KiB over the threshold: answers wait about 0.5 s."""
    clock = ManualClock()
    reader = SpoolReader(tmp_path).open()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=100 * KIB, max_delay_s=5.0), clock)
    for _ in range(40):
        spool.append(b"x" * (10 * KIB - 8))  # 10 KiB frames with their headers
    assert pacer.delay_s() == 0  # no drain rate known yet
    drain_while_answering(spool, reader, pacer, clock, int(RATE_WINDOW_S * 10))  # 10 KiB per 0.1 s
    excess = spool.pending_bytes - 100 * KIB
    assert excess > 0
    assert pacer.delay_s() == pytest.approx(excess / (100 * KIB), rel=0.15)
    reader.close()


def test_the_wait_is_capped(spool: Spool, tmp_path: Path) -> None:
    clock = ManualClock()
    reader = SpoolReader(tmp_path).open()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=KIB, max_delay_s=0.25), clock)
    for _ in range(100):
        spool.append(b"x" * 10 * KIB)
    drain_while_answering(spool, reader, pacer, clock, 20)
    assert pacer.delay_s() == 0.25
    reader.close()


def test_no_wait_while_the_writer_is_not_draining(spool: Spool, tmp_path: Path) -> None:
    """The database is down: a backlog far past the threshold, and the spool absorbs it without waits."""
    clock = ManualClock()
    reader = SpoolReader(tmp_path).open()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=KIB), clock)
    for _ in range(30):
        spool.append(b"x" * 10 * KIB)
    drain_while_answering(spool, reader, pacer, clock, 10)
    assert pacer.delay_s() > 0
    for _ in range(int(RATE_WINDOW_S * 10) + 2):  # the writer stops: a window with no commit
        clock.now += 0.1
        pacer.delay_s()
    assert pacer.delay_s() == 0
    reader.close()


def test_zero_turns_pacing_off(spool: Spool, tmp_path: Path) -> None:
    clock = ManualClock()
    reader = SpoolReader(tmp_path).open()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=0), clock)
    for _ in range(30):
        spool.append(b"x" * 10 * KIB)
    assert drain_while_answering(spool, reader, pacer, clock, 20) == [0] * 20
    reader.close()


def test_a_paced_answer_is_spooled_first_and_counted(spool: Spool, tmp_path: Path) -> None:
    """The pipeline spools the export, then waits what the pacer says, and counts the wait by signal."""
    reader = SpoolReader(tmp_path).open()
    pacer = IngestPacer(spool, PacingOptions(above_bytes=1, max_delay_s=0.05))
    metrics = ServiceMetrics(CollectorRegistry())
    pipeline = IngestPipeline(spool, metrics, IngestOptions(pacer=pacer))
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(
            trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), start_time_unix_nano=1, end_time_unix_nano=2
        )
    )
    span.attributes.append(KeyValue(key="ml.model.name", value=AnyValue(string_value="m")))

    async def export_while_draining() -> None:
        for _ in range(int(RATE_WINDOW_S * 10) + 5):
            await pipeline.traces(request)
            await asyncio.sleep(0.1)
            for record in reader.read(1 << 20)[-1:]:  # keep some backlog, drain the rest
                reader.commit(record.end)
                spool.note_committed(record.end)

    asyncio.run(export_while_draining())
    paced = metrics.registry.get_sample_value("inferwatch_ingest_paced_seconds_total", {"signal": "spans"})
    assert paced is not None
    assert paced > 0
    reader.close()
