"""The durable ingest buffer: what the collector acknowledged and the database has not committed yet.

An OK answer to an export means the data is here or in the database. Records are appended to segment files
with ``os.write``, which puts them in the kernel's page cache before the answer goes out, so they survive
``kill -9`` of the process (``fsync=True`` also survives power loss, at a cost per append). The batch writer
reads records in order, commits them to the database, then moves the checkpoint and deletes spent segments.
On start, everything after the checkpoint is replayed; ingest is idempotent, so a record committed just
before a crash and replayed after it is stored once.

Frame: ``<u32 payload length><u32 crc32 of payload><payload>``. A frame cut short by a crash is the tail of
a write that was never acknowledged; recovery drops it and says so in the log.

Layout: ``DIR/LOCK`` (flock: one process per spool), ``DIR/CHECKPOINT`` (``segment offset``),
``DIR/NNNNNNNNNNNN.seg``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from collector.errors import InferwatchError

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_SUFFIX = ".seg"


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


def _segment_name(segment: int) -> str:
    return f"{segment:012d}{_SUFFIX}"


class Spool:
    """An append-only, crash-safe queue of byte payloads on local disk; one appender, one reader thread."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = 32 * 1024 * 1024, fsync: bool = False):
        if max_bytes <= 0:
            raise ValueError(f"`max_bytes` must be > 0, got {max_bytes}")
        self.directory = directory
        self.max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._lock = threading.Condition()
        self._lock_fd: int | None = None
        # Visible length of every live segment, in order; the last one is being appended to.
        self._sizes: dict[int, int] = {}
        self._write_fd: int | None = None
        self._write_segment = 0
        self._read_position = SpoolPosition(0, 0)
        self._checkpoint = SpoolPosition(0, 0)
        self._read_handle: tuple[int, BinaryIO] | None = None
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------------------

    def open(self) -> Spool:
        """Lock the directory, recover what a previous process left, and start a fresh segment."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / "LOCK", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InferwatchError(
                f"spool directory {self.directory} is in use by another inferwatch process; give each replica its own"
            ) from None
        self._lock_fd = fd
        self._checkpoint = self._load_checkpoint()
        for path in sorted(self.directory.glob("*" + _SUFFIX)):
            segment = int(path.stem)
            if segment < self._checkpoint.segment:
                path.unlink()
                continue
            self._sizes[segment] = self._valid_length(path)
        if self._checkpoint.segment not in self._sizes:
            self._checkpoint = SpoolPosition(min(self._sizes, default=self._checkpoint.segment), 0)
        self._read_position = self._checkpoint
        self._write_segment = max(self._sizes, default=self._checkpoint.segment - 1) + 1
        self._open_write_segment(self._write_segment)
        pending = self.pending_bytes
        if pending:
            logger.info("spool %s: replaying %d bytes acknowledged before the last stop", self.directory, pending)
        return self

    def close(self) -> None:
        """Close files and release the directory lock; what is not committed stays for the next start."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        self._close_read_handle()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- appending (event loop thread) ------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes appended and not yet committed to the database."""
        with self._lock:
            return self._pending_bytes_locked()

    def _pending_bytes_locked(self) -> int:
        total = sum(self._sizes.values())
        return total - self._checkpoint.offset if self._checkpoint.segment in self._sizes else total

    def append(self, payload: bytes) -> None:
        """Durably append one payload; raises SpoolFull rather than grow past ``max_bytes``."""
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._closed or self._write_fd is None:
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
            self._lock.notify_all()

    # -- reading and committing (writer thread) ---------------------------------------------------------

    def read(self, max_bytes: int, timeout_s: float) -> list[SpoolRecord]:
        """Records after the last one read, up to about ``max_bytes``; waits up to ``timeout_s`` for the first."""
        with self._lock:
            if not self._has_unread_locked() and not self._closed:
                self._lock.wait(timeout_s)
            visible = dict(self._sizes)
        records: list[SpoolRecord] = []
        taken = 0
        position = self._read_position
        while taken < max_bytes:
            size = visible.get(position.segment)
            if size is None:
                break
            if position.offset >= size:
                later = [segment for segment in visible if segment > position.segment]
                if not later:
                    break
                position = SpoolPosition(min(later), 0)
                continue
            payload = self._read_frame(position)
            position = SpoolPosition(position.segment, position.offset + _HEADER.size + len(payload))
            records.append(SpoolRecord(payload, position))
            taken += len(payload)
        self._read_position = position
        return records

    def commit(self, position: SpoolPosition) -> None:
        """Everything up to ``position`` is in the database: move the checkpoint, delete spent segments."""
        tmp = self.directory / "CHECKPOINT.tmp"
        tmp.write_text(f"{position.segment} {position.offset}\n")
        os.replace(tmp, self.directory / "CHECKPOINT")
        with self._lock:
            self._checkpoint = position
            spent = [segment for segment in self._sizes if segment < position.segment]
            for segment in spent:
                del self._sizes[segment]
        for segment in spent:
            if self._read_handle is not None and self._read_handle[0] == segment:
                self._close_read_handle()
            (self.directory / _segment_name(segment)).unlink(missing_ok=True)

    def has_pending(self) -> bool:
        """Whether anything appended is not yet committed."""
        return self.pending_bytes > 0

    # -- internals --------------------------------------------------------------------------------------

    def _has_unread_locked(self) -> bool:
        position = self._read_position
        return any(
            segment > position.segment or (segment == position.segment and size > position.offset)
            for segment, size in self._sizes.items()
        )

    def _open_write_segment(self, segment: int) -> None:
        path = self.directory / _segment_name(segment)
        self._write_fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        self._sizes[segment] = os.fstat(self._write_fd).st_size

    def _read_frame(self, position: SpoolPosition) -> bytes:
        if self._read_handle is None or self._read_handle[0] != position.segment:
            self._close_read_handle()
            # Kept open across reads; closed when the segment is spent or the spool closes.
            self._read_handle = (
                position.segment,
                open(self.directory / _segment_name(position.segment), "rb"),  # noqa: SIM115
            )
        handle = self._read_handle[1]
        handle.seek(position.offset)
        length, checksum = _HEADER.unpack(handle.read(_HEADER.size))
        payload = handle.read(length)
        if len(payload) != length or zlib.crc32(payload) != checksum:
            raise InferwatchError(f"spool segment {position.segment} is corrupt at offset {position.offset}")
        return payload

    def _close_read_handle(self) -> None:
        if self._read_handle is not None:
            self._read_handle[1].close()
            self._read_handle = None

    def _load_checkpoint(self) -> SpoolPosition:
        path = self.directory / "CHECKPOINT"
        if not path.exists():
            return SpoolPosition(0, 0)
        segment, offset = path.read_text().split()
        return SpoolPosition(int(segment), int(offset))

    def _valid_length(self, path: Path) -> int:
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
