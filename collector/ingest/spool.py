"""The durable ingest buffer: what the collector acknowledged and the database has not committed yet.

An OK answer to an export means the data is here or in the database. The serving process appends records to
segment files with ``os.write``, which puts them in the kernel's page cache before the answer goes out, so
they survive ``kill -9`` (``fsync=True`` also survives power loss, at a cost per append). The writer process
reads records in order, commits them to the database, then moves the checkpoint and deletes spent segments.
On start, everything after the checkpoint is replayed; ingest is idempotent, so a record committed just
before a crash and replayed after it is stored once.

Two processes share the directory, each with its own role and lock: ``Spool`` (one appender, ``LOCK``) and
``SpoolReader`` (one reader, ``READER.LOCK``). The reader only ever sees whole frames: a frame still being
written looks like a short read and is retried, and the appender never writes to a segment again once a
newer one exists.

Frame: ``<u32 payload length><u32 crc32 of payload><payload>``. A frame cut short by a crash is the tail of
a write that was never acknowledged; the appender's recovery drops it and says so in the log.

Layout: ``DIR/LOCK``, ``DIR/READER.LOCK``, ``DIR/CHECKPOINT`` (``segment offset``), ``DIR/NNNNNNNNNNNN.seg``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from collector.core.errors import InferwatchError
from collector.core.locks import exclusive_lock

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_SUFFIX = ".seg"
CHECKPOINT_FILE = "CHECKPOINT"


class SpoolFull(InferwatchError):
    """The buffer holds ``max_bytes`` not yet committed; the caller should ask the client to retry later."""


@dataclass(frozen=True, order=True)
class SpoolPosition:
    """A point in the spool: the end of a record in a segment."""

    segment: int
    offset: int


@dataclass(frozen=True)
class SpoolRecord:
    """One appended payload and the position just after it."""

    payload: bytes
    end: SpoolPosition


def _segment_path(directory: Path, segment: int) -> Path:
    return directory / f"{segment:012d}{_SUFFIX}"


def _segments(directory: Path) -> list[int]:
    return sorted(int(path.stem) for path in directory.glob("*" + _SUFFIX))


def load_checkpoint(directory: Path) -> SpoolPosition:
    """The position up to which everything is committed to the database."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return SpoolPosition(0, 0)
    segment, offset = path.read_text().split()
    return SpoolPosition(int(segment), int(offset))


class Spool:
    """The appending side: crash-safe appends with a capacity, in the serving process."""

    def __init__(
        self, directory: Path, *, max_bytes: int, segment_bytes: int = 32 * 1024 * 1024, fsync: bool = False
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"`max_bytes` must be > 0, got {max_bytes}")
        self.directory = directory
        self.max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        # Length of every segment not yet known to be spent; the last one is being appended to.
        self._sizes: dict[int, int] = {}
        self._write_fd: int | None = None
        self._write_segment = 0
        self._committed = SpoolPosition(0, 0)
        self._drained_bytes = 0

    def open(self) -> Spool:
        """Lock the directory, recover what a previous process left, and start a fresh segment."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = exclusive_lock(
            self.directory / "LOCK",
            wait=False,
            busy_message=f"spool directory {self.directory} is in use by another inferwatch process; "
            "give each replica its own",
        )
        self._committed = load_checkpoint(self.directory)
        for segment in _segments(self.directory):
            path = _segment_path(self.directory, segment)
            if segment < self._committed.segment:
                path.unlink()
            else:
                self._sizes[segment] = _valid_length(path)
        self._write_segment = max(self._sizes, default=self._committed.segment - 1) + 1
        self._open_write_segment(self._write_segment)
        pending = self.pending_bytes
        if pending:
            logger.info("spool %s: replaying %d bytes acknowledged before the last stop", self.directory, pending)
        return self

    def close(self) -> None:
        """Close files and release the directory lock; what is not committed stays for the next start."""
        with self._lock:
            if self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    @property
    def pending_bytes(self) -> int:
        """Bytes appended and not yet committed to the database (as far as the reader has reported)."""
        with self._lock:
            return self._pending_bytes_locked()

    def _pending_bytes_locked(self) -> int:
        committed = self._committed
        return sum(
            size - (committed.offset if segment == committed.segment else 0)
            for segment, size in self._sizes.items()
            if segment >= committed.segment
        )

    @property
    def drained_bytes(self) -> int:
        """Bytes committed to the database since this process opened the spool (it only grows)."""
        with self._lock:
            return self._drained_bytes

    def note_committed(self, position: SpoolPosition) -> None:
        """The reader committed everything up to ``position``; segments before it are gone."""
        with self._lock:
            if position <= self._committed:
                return
            before = self._pending_bytes_locked()
            self._committed = position
            for segment in [segment for segment in self._sizes if segment < position.segment]:
                del self._sizes[segment]
            self._drained_bytes += before - self._pending_bytes_locked()

    def refresh_committed(self) -> None:
        """Re-read the reader's checkpoint from disk (when no report came through, say after it died)."""
        self.note_committed(load_checkpoint(self.directory))

    def append(self, payload: bytes) -> None:
        """Durably append one payload; raises SpoolFull rather than grow past ``max_bytes``."""
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._write_fd is None:
                raise InferwatchError("spool is closed")
            pending = self._pending_bytes_locked()
            # An empty spool takes any one request, or a request larger than the spool could never get in.
            if pending and pending + len(frame) > self.max_bytes:
                raise SpoolFull(f"ingest buffer full ({self.max_bytes} bytes waiting for the database)")
            if self._sizes[self._write_segment] >= self._segment_bytes:
                os.close(self._write_fd)
                self._write_segment += 1
                self._open_write_segment(self._write_segment)
            view = memoryview(frame)
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]
            if self._fsync:
                os.fsync(self._write_fd)
            self._sizes[self._write_segment] += len(frame)

    def _open_write_segment(self, segment: int) -> None:
        self._write_fd = os.open(_segment_path(self.directory, segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        self._sizes[segment] = os.fstat(self._write_fd).st_size


class SpoolReader:
    """The reading side: records in append order, and the checkpoint, in the writer process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock_fd: int | None = None
        self._position = SpoolPosition(0, 0)
        self._handle: tuple[int, BinaryIO] | None = None

    def open(self) -> SpoolReader:
        """Take the reader lock, waiting for a previous reader (an orphan still draining) to finish."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = exclusive_lock(self.directory / "READER.LOCK", wait=True, busy_message="")
        self._position = load_checkpoint(self.directory)
        return self

    def close(self) -> None:
        """Release files and the lock."""
        self._close_handle()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def read(self, max_bytes: int) -> list[SpoolRecord]:
        """Whole records after the last one read, up to about ``max_bytes``; empty when there are none yet."""
        records: list[SpoolRecord] = []
        taken = 0
        while taken < max_bytes:
            payload = self._next_frame()
            if payload is None:
                break
            records.append(SpoolRecord(payload, self._position))
            taken += len(payload)
        return records

    def commit(self, position: SpoolPosition) -> None:
        """Everything up to ``position`` is in the database: move the checkpoint, delete spent segments."""
        tmp = self.directory / (CHECKPOINT_FILE + ".tmp")
        tmp.write_text(f"{position.segment} {position.offset}\n")
        os.replace(tmp, self.directory / CHECKPOINT_FILE)
        for segment in _segments(self.directory):
            if segment >= position.segment:
                break
            if self._handle is not None and self._handle[0] == segment:
                self._close_handle()
            _segment_path(self.directory, segment).unlink(missing_ok=True)

    def _next_frame(self) -> bytes | None:
        """The frame at the read position, moving to the next segment when this one is finished."""
        while True:
            frame = self._frame_at(self._position)
            if frame is not None:
                self._position = SpoolPosition(
                    self._position.segment, self._position.offset + _HEADER.size + len(frame)
                )
                return frame
            later = [segment for segment in _segments(self.directory) if segment > self._position.segment]
            if not later:
                return None
            # A newer segment exists, so this one is complete; look once more in case its tail just landed.
            frame = self._frame_at(self._position)
            if frame is not None:
                continue
            self._position = SpoolPosition(later[0], 0)

    def _frame_at(self, position: SpoolPosition) -> bytes | None:
        handle = self._open_segment(position.segment)
        if handle is None:
            return None
        handle.seek(position.offset)
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        length, checksum = _HEADER.unpack(header)
        payload = handle.read(length)
        if len(payload) < length:
            return None  # still being written
        if zlib.crc32(payload) != checksum:
            raise InferwatchError(f"spool segment {position.segment} is corrupt at offset {position.offset}")
        return payload

    def _open_segment(self, segment: int) -> BinaryIO | None:
        if self._handle is None or self._handle[0] != segment:
            self._close_handle()
            try:
                # Kept open across reads; closed when the segment is spent or the reader closes.
                self._handle = (segment, _segment_path(self.directory, segment).open("rb"))
            except FileNotFoundError:
                return None
        return self._handle[1]

    def _close_handle(self) -> None:
        if self._handle is not None:
            self._handle[1].close()
            self._handle = None


def _valid_length(path: Path) -> int:
    """Length of the intact frames of a segment; a torn tail from a crash is cut off."""
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, checksum = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end > len(data) or zlib.crc32(data[offset + _HEADER.size : end]) != checksum:
            break
        offset = end
    if offset < len(data):
        logger.warning(
            "spool segment %s: dropping %d bytes of a write cut short by a crash (never acknowledged)",
            path.name,
            len(data) - offset,
        )
        with path.open("r+b") as handle:
            handle.truncate(offset)
    return offset
