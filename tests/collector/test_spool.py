"""The durable spool: order, crash recovery, a torn tail, capacity, one appender and one reader."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from collector.core.errors import InferwatchError
from collector.ingest.spool import Spool, SpoolFull, SpoolReader


def drain(spool: Spool, reader: SpoolReader) -> list[bytes]:
    """Read everything currently visible, commit it, and tell the appender."""
    payloads: list[bytes] = []
    while records := reader.read(1 << 20):
        payloads.extend(record.payload for record in records)
        reader.commit(records[-1].end)
        spool.note_committed(records[-1].end)
    return payloads


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    """Appends are read in order, across segment rotations, and spent segments are deleted."""
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=100).open()
    reader = SpoolReader(tmp_path).open()
    payloads = [f"record-{i}".encode() * 5 for i in range(20)]
    for payload in payloads:
        spool.append(payload)
    assert len(list(tmp_path.glob("*.seg"))) > 3
    assert drain(spool, reader) == payloads
    assert spool.pending_bytes == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1
    reader.close()
    spool.close()


def test_reader_sees_appends_made_after_it_caught_up(tmp_path: Path) -> None:
    """A reader that found nothing finds later appends, including ones in a new segment."""
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=10).open()
    reader = SpoolReader(tmp_path).open()
    assert reader.read(1 << 20) == []
    spool.append(b"first-record")
    spool.append(b"second-record")
    assert drain(spool, reader) == [b"first-record", b"second-record"]
    spool.append(b"third")
    assert drain(spool, reader) == [b"third"]
    reader.close()
    spool.close()


def test_uncommitted_records_are_replayed_after_a_restart(tmp_path: Path) -> None:
    """What was appended but not committed comes back when the spool is opened again."""
    spool = Spool(tmp_path, max_bytes=1 << 20).open()
    reader = SpoolReader(tmp_path).open()
    for payload in (b"a", b"b", b"c"):
        spool.append(payload)
    first = reader.read(1)
    reader.commit(first[-1].end)
    reader.close()
    spool.close()  # as if killed: b and c were acknowledged but never committed
    reopened = Spool(tmp_path, max_bytes=1 << 20).open()
    assert reopened.pending_bytes > 0
    second_reader = SpoolReader(tmp_path).open()
    assert drain(reopened, second_reader) == [b"b", b"c"]
    assert reopened.pending_bytes == 0
    second_reader.close()
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
    reader = SpoolReader(tmp_path).open()
    assert drain(reopened, reader) == [b"kept"]
    reopened.append(b"after")
    assert drain(reopened, reader) == [b"after"]
    reader.close()
    reopened.close()


def test_reader_never_returns_a_frame_still_being_written(tmp_path: Path) -> None:
    """Half a frame at the end of the newest segment is invisible until the rest lands."""
    spool = Spool(tmp_path, max_bytes=1 << 20).open()
    spool.append(b"whole")
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    complete = segment.read_bytes()
    segment.write_bytes(complete + complete[:6])  # a second frame cut mid-header-and-payload
    reader = SpoolReader(tmp_path).open()
    assert [record.payload for record in reader.read(1 << 20)] == [b"whole"]
    assert reader.read(1 << 20) == []
    with segment.open("ab") as handle:
        handle.write(complete[6:])
    assert [record.payload for record in reader.read(1 << 20)] == [b"whole"]
    reader.close()


def test_full_spool_refuses_and_recovers_after_commit(tmp_path: Path) -> None:
    """Past max_bytes an append raises SpoolFull; committing frees room again."""
    spool = Spool(tmp_path, max_bytes=100).open()
    reader = SpoolReader(tmp_path).open()
    spool.append(b"x" * 80)
    with pytest.raises(SpoolFull, match="ingest buffer full"):
        spool.append(b"y" * 80)
    assert drain(spool, reader) == [b"x" * 80]
    spool.append(b"y" * 80)
    reader.close()
    spool.close()


def test_an_empty_spool_takes_one_oversized_request(tmp_path: Path) -> None:
    """A request larger than the whole spool still gets in when nothing waits, or it could never get in."""
    spool = Spool(tmp_path, max_bytes=10).open()
    reader = SpoolReader(tmp_path).open()
    spool.append(b"z" * 50)
    with pytest.raises(SpoolFull):
        spool.append(b"z")
    assert drain(spool, reader) == [b"z" * 50]
    reader.close()
    spool.close()


def test_capacity_frees_when_the_checkpoint_is_read_back(tmp_path: Path) -> None:
    """refresh_committed picks up a checkpoint the reader wrote without reporting it."""
    spool = Spool(tmp_path, max_bytes=100).open()
    reader = SpoolReader(tmp_path).open()
    spool.append(b"x" * 80)
    records = reader.read(1 << 20)
    reader.commit(records[-1].end)
    assert spool.pending_bytes > 0
    spool.refresh_committed()
    assert spool.pending_bytes == 0
    reader.close()
    spool.close()


def test_one_appender_per_spool_directory(tmp_path: Path) -> None:
    """A second appender on the same directory is told another process holds it."""
    spool = Spool(tmp_path, max_bytes=100).open()
    with pytest.raises(InferwatchError, match="in use by another inferwatch process"):
        Spool(tmp_path, max_bytes=100).open()
    spool.close()
    Spool(tmp_path, max_bytes=100).open().close()


def test_a_second_reader_waits_for_the_first(tmp_path: Path) -> None:
    """A new reader (after a restart) waits until an orphaned reader still draining has let go."""
    first = SpoolReader(tmp_path).open()
    opened = threading.Event()

    def open_second() -> None:
        SpoolReader(tmp_path).open().close()
        opened.set()

    waiter = threading.Thread(target=open_second)
    waiter.start()
    assert not opened.wait(0.3)
    first.close()
    assert opened.wait(10)
    waiter.join()


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    """A zero capacity is a configuration mistake, named as such."""
    with pytest.raises(ValueError, match="`max_bytes` must be > 0, got 0"):
        Spool(tmp_path, max_bytes=0)
