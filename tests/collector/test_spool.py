"""The durable spool: order, crash recovery, a torn tail, capacity, one process per directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import InferwatchError
from collector.spool import Spool, SpoolFull


def drain(spool: Spool) -> list[bytes]:
    """Read everything currently visible and commit it."""
    payloads: list[bytes] = []
    while records := spool.read(1 << 20, timeout_s=0):
        payloads.extend(record.payload for record in records)
        spool.commit(records[-1].end)
    return payloads


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    """Appends are read in order, across segment rotations, and spent segments are deleted."""
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=100).open()
    payloads = [f"record-{i}".encode() * 5 for i in range(20)]
    for payload in payloads:
        spool.append(payload)
    assert len(list(tmp_path.glob("*.seg"))) > 3
    assert drain(spool) == payloads
    assert spool.pending_bytes == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1
    spool.close()


def test_uncommitted_records_are_replayed_after_a_restart(tmp_path: Path) -> None:
    """What was appended but not committed comes back when the spool is opened again."""
    spool = Spool(tmp_path, max_bytes=1 << 20).open()
    for payload in (b"a", b"b", b"c"):
        spool.append(payload)
    first = spool.read(1, timeout_s=0)
    spool.commit(first[-1].end)
    spool.close()  # as if killed: b and c were acknowledged but never committed
    reopened = Spool(tmp_path, max_bytes=1 << 20).open()
    assert drain(reopened) == [b"b", b"c"]
    reopened.close()


def test_a_torn_tail_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    """A frame cut short by a crash mid-write is discarded; the intact frames before it survive."""
    spool = Spool(tmp_path, max_bytes=1 << 20).open()
    spool.append(b"kept")
    spool.append(b"torn-record")
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-3])
    reopened = Spool(tmp_path, max_bytes=1 << 20).open()
    assert drain(reopened) == [b"kept"]
    reopened.append(b"after")
    assert drain(reopened) == [b"after"]
    reopened.close()


def test_full_spool_refuses_and_recovers_after_commit(tmp_path: Path) -> None:
    """Past max_bytes an append raises SpoolFull; committing frees room again."""
    spool = Spool(tmp_path, max_bytes=100).open()
    spool.append(b"x" * 80)
    with pytest.raises(SpoolFull, match="ingest buffer full"):
        spool.append(b"y" * 80)
    assert drain(spool) == [b"x" * 80]
    spool.append(b"y" * 80)
    spool.close()


def test_an_empty_spool_takes_one_oversized_request(tmp_path: Path) -> None:
    """A request larger than the whole spool still gets in when nothing waits, or it could never get in."""
    spool = Spool(tmp_path, max_bytes=10).open()
    spool.append(b"z" * 50)
    with pytest.raises(SpoolFull):
        spool.append(b"z")
    assert drain(spool) == [b"z" * 50]
    spool.close()


def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    """A second opener of the same directory is told another process holds it."""
    spool = Spool(tmp_path, max_bytes=100).open()
    with pytest.raises(InferwatchError, match="in use by another inferwatch process"):
        Spool(tmp_path, max_bytes=100).open()
    spool.close()
    Spool(tmp_path, max_bytes=100).open().close()


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    """A zero capacity is a configuration mistake, named as such."""
    with pytest.raises(ValueError, match="`max_bytes` must be > 0, got 0"):
        Spool(tmp_path, max_bytes=0)
